"""DV104: is the code Lambda runs the code that was built? Compares CodeSha256 with the built bundle's zip.

Lambda reports CodeSha256, the base64 SHA-256 of the uploaded zip. The built bundle is zipped the deterministic way
(deployverify.core.zipper: sorted entries, fixed timestamps and modes), which is how deployverify's deploys upload
it, so equal hashes mean byte-identical code. The question only makes sense when there is a deployed function to
ask about: no credentials, no region or a function that does not exist make the check not applicable. When AWS
refuses the call (AccessDenied) or cannot be reached, the answer exists but could not be read: `unanswered` is set,
and the check reports a missing prerequisite (a skip on a laptop, a failure in CI).
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from deployverify.aws import session
from deployverify.core.errors import DeployVerifyError
from deployverify.core.zipper import zip_to_file
from deployverify.target.model import Target


@dataclass(frozen=True)
class DeployedCode:
    function: str
    code_sha256: str | None  # None: nothing to compare with, `reason` says why
    reason: str = ""
    unanswered: bool = False  # AWS refused the call or could not be reached: the question stays open


def built_code_sha256(bundle: Path) -> str:
    """CodeSha256 Lambda would report after a deploy of the bundle's deterministic zip."""
    with tempfile.TemporaryDirectory(prefix="dv-zip-") as scratch:
        archive = zip_to_file(bundle, Path(scratch) / "bundle.zip")
        digest = hashlib.sha256()
        with archive.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")


def no_aws_reason(target: Target) -> str | None:
    """Why Lambda cannot be asked at all (no region, no credentials), checked without any network call."""
    try:
        session.region(target)
    except DeployVerifyError as exc:
        return str(exc)
    if boto3.session.Session().get_credentials() is None:
        return "no AWS credentials (environment, profile or role)"
    return None


def deployed_code(target: Target, function_name: str) -> DeployedCode:
    """The deployed function's CodeSha256, or why there is none to compare with."""
    try:
        lambda_ = session.client("lambda", target, max_attempts=2)
        configuration = lambda_.get_function(FunctionName=function_name)["Configuration"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return DeployedCode(function_name, None, f"function `{function_name}` is not deployed")
        return DeployedCode(function_name, None, f"Lambda refused GetFunction for `{function_name}`: {code} "
                                                 "(DV002 checks the credentials)", unanswered=True)
    except (BotoCoreError, DeployVerifyError) as exc:
        return DeployedCode(function_name, None, f"Lambda is not reachable: {type(exc).__name__}: {exc}",
                            unanswered=True)
    if configuration.get("PackageType") == "Image":
        return DeployedCode(function_name, None, f"`{function_name}` is a container image function, not a zip")
    return DeployedCode(function_name, str(configuration["CodeSha256"]))


@dataclass(frozen=True)
class FileComparison:
    identical: bool | None  # None: the deployed files could not be fetched, `detail` says why
    detail: str
    differing: tuple[str, ...] = ()


def _file_hashes(folder: Path) -> dict[str, str]:
    from deployverify.core.zipper import bundle_files

    hashes = {}
    for name, path in bundle_files(folder):
        hashes[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def compare_deployed_files(target: Target, function_name: str, bundle: Path) -> FileComparison:
    """Compare the deployed zip's files with the bundle's, byte for byte, whatever tool zipped them.

    Equal CodeSha256 needs the same zip bytes; `sam deploy` zips differently from deployverify, so when the hashes
    differ the files themselves decide whether the code drifted.
    """
    from deployverify.deployed.code import fetch_deployed

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
