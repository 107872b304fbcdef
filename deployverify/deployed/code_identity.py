"""Is the code Lambda runs the code that was built? The one comparison behind DV104 (gate) and DV603 (smoke).

Lambda reports CodeSha256, the base64 SHA-256 of the uploaded zip. The built bundle is zipped the deterministic way
(deployverify.core.zipper: sorted entries, fixed timestamps and modes), which is how deployverify's deploys upload
it, so equal hashes mean byte-identical code. `built_code_sha256` is the only place that hash is computed.

DV104 asks before a deploy, against whatever is live (often an older build, so a mismatch there means "this build
is not deployed yet"); it is not applicable without credentials, region or function, and when another tool
(`sam deploy`) zipped the code, `compare_deployed_files` decides by the files. DV603 asks after a deploy, where a
mismatch means the deploy shipped something other than what was checked. When AWS refuses the call (AccessDenied)
or cannot be reached, the answer exists but could not be read: `unanswered` is set, and the check reports a missing
prerequisite (a skip on a laptop, a failure in CI).
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from deployverify.aws import session
from deployverify.core.errors import DeployVerifyError
from deployverify.core.zipper import bundle_files, zip_to_file
from deployverify.deployed.fetch import fetch_deployed
from deployverify.target.model import Target


@dataclass(frozen=True)
class DeployedCodeSha:
    function: str
    code_sha256: str | None  # None: nothing to compare with, `reason` says why
    reason: str = ""
    unanswered: bool = False  # AWS refused the call or could not be reached: the question stays open


def built_code_sha256(bundle: Path, cache_root: Path) -> str:
    """The CodeSha256 Lambda would report after a deploy of the bundle's deterministic zip.

    Remembered under `cache_root` per file listing (names, sizes, modification times and modes): zipping a 60 MB
    bundle on every run costs seconds, listing it costs milliseconds. The zip goes to a scratch file, not memory."""
    listing = hashlib.sha256()
    for name, path in bundle_files(bundle):
        stat = path.stat()
        listing.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_mode:o}\n".encode())
    folder = cache_root / "code-sha256"
    remembered = folder / f"{listing.hexdigest()[:32]}.txt"
    try:
        return remembered.read_text(encoding="ascii").strip()
    except OSError:
        pass
    with tempfile.TemporaryDirectory(prefix="dv-zip-") as scratch:
        archive = zip_to_file(bundle, Path(scratch) / "bundle.zip")
        digest = hashlib.sha256()
        with archive.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    sha = base64.b64encode(digest.digest()).decode("ascii")
    folder.mkdir(parents=True, exist_ok=True)
    partial = remembered.with_suffix(f".{os.getpid()}.part")  # concurrent runs each write whole files
    partial.write_text(sha, encoding="ascii")
    partial.replace(remembered)
    return sha


def no_aws_reason(target: Target) -> str | None:
    """Why Lambda cannot be asked at all (no region, no credentials), checked without any network call."""
    try:
        session.region(target)
    except DeployVerifyError as exc:
        return str(exc)
    if boto3.session.Session().get_credentials() is None:
        return "no AWS credentials (environment, profile or role)"
    return None


def deployed_code(target: Target, function_name: str) -> DeployedCodeSha:
    """The deployed function's CodeSha256, or why there is none to compare with."""
    try:
        lambda_ = session.client("lambda", target, max_attempts=2)
        configuration = lambda_.get_function(FunctionName=function_name)["Configuration"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return DeployedCodeSha(function_name, None, f"function `{function_name}` is not deployed")
        return DeployedCodeSha(function_name, None, f"Lambda refused GetFunction for `{function_name}`: {code} "
                                                 "(DV002 checks the credentials)", unanswered=True)
    except (BotoCoreError, DeployVerifyError) as exc:
        return DeployedCodeSha(function_name, None, f"Lambda is not reachable: {type(exc).__name__}: {exc}",
                               unanswered=True)
    if configuration.get("PackageType") == "Image":
        return DeployedCodeSha(function_name, None, f"`{function_name}` is a container image function, not a zip")
    return DeployedCodeSha(function_name, str(configuration["CodeSha256"]))


@dataclass(frozen=True)
class FileComparison:
    identical: bool | None  # None: the deployed files could not be fetched, `detail` says why
    detail: str
    differing: tuple[str, ...] = ()


def _file_hashes(folder: Path) -> dict[str, str]:
    hashes = {}
    for name, path in bundle_files(folder):
        hashes[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def compare_deployed_files(target: Target, function_name: str, bundle: Path) -> FileComparison:
    """Compare the deployed zip's files with the bundle's, byte for byte, whatever tool zipped them.

    Equal CodeSha256 needs the same zip bytes; `sam deploy` zips differently from deployverify, so when the hashes
    differ the files themselves decide whether the code drifted.
    """
    with tempfile.TemporaryDirectory(prefix="dv-deployed-") as scratch:
        try:
            deployed = fetch_deployed(function_name, Path(scratch) / "code", target=target)
        except DeployVerifyError as exc:
            return FileComparison(None, f"the deployed files could not be fetched to compare: {exc.detail}")
        theirs = _file_hashes(deployed.folder)
    ours = _file_hashes(bundle)
    differing = sorted(name for name in ours.keys() | theirs.keys() if ours.get(name) != theirs.get(name))
    if not differing:
        return FileComparison(True, f"all {len(ours)} files are identical to the deployed code ({deployed.source})")
    shown = ", ".join(f"`{name}`" + (" (only built)" if name not in theirs else " (only deployed)"
                                     if name not in ours else "") for name in differing[:5])
    more = f" and {len(differing) - 5} more" if len(differing) > 5 else ""
    return FileComparison(False, f"{len(differing)} file(s) differ: {shown}{more}", tuple(differing))
