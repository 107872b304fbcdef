"""The code a deployed Lambda function runs, fetched so the stub scan reads what is live, not what is in git.

`get_function` returns the function's configuration (handler, environment) and `Code.Location`, a short-lived
presigned URL to the zip. Where that URL cannot be reached (no route to AWS's host, or an emulator such as moto that
hands out a Location on an AWS host it does not serve) the zip is looked up in S3 instead: the key the Location
names, in the account's buckets, accepted only if its SHA-256 equals the function's CodeSha256; or the bucket/key
given as `artifact`. A function created from a direct zip upload has no such copy: that is said plainly.
The Location is presigned, so it is never printed; only its host is.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

import requests
from botocore.exceptions import BotoCoreError, ClientError

from deployverify.aws.session import client
from deployverify.core.errors import DeployVerifyError
from deployverify.target.model import Target

LOCATION_TIMEOUT_S = (3.0, 30.0)  # connect, read: an unreachable host must fail fast
MAX_UNZIPPED_BYTES = 512 * 1024 * 1024  # above Lambda's 250 MB unzipped limit: anything bigger is not a function
_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


@dataclass(frozen=True)
class FetchedCode:
    """The deployed zip, unpacked into `folder`, with the configuration the scan needs beside it."""

    function: str
    handler: str
    folder: Path
    source: str  # "Code.Location (host)" or "s3://bucket/key"
    code_sha256: str
    environment: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def fetch_deployed(function: str, dest: Path, *, target: Target | None = None, artifact: str | None = None,
                   region: str | None = None) -> FetchedCode:
    """Download and unzip the deployed code of `function` into `dest` (which must be empty or absent)."""
    lam = client("lambda", target, region_name=region)
    try:
        response: dict[str, Any] = lam.get_function(FunctionName=function)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise DeployVerifyError(f"function `{function}` is not deployed (get_function: {code}); deploy it or "
                                    "fix functions[].function_name", where=f"function {function}") from None
        raise DeployVerifyError(f"get_function failed for `{function}`: {code}: {exc}",
                                where=f"function {function}") from None
    except BotoCoreError as exc:
        raise DeployVerifyError(f"cannot reach the Lambda API: {exc}", where=f"function {function}") from None
    config = response.get("Configuration", {})
    if config.get("PackageType") == "Image":
        raise DeployVerifyError(f"`{function}` is a container image function; its code is in "
                                f"{response.get('Code', {}).get('ImageUri', 'ECR')} and is not fetched by the scan",
                                where=f"function {function}")
    expected_sha = str(config.get("CodeSha256", ""))
    location = str(response.get("Code", {}).get("Location", ""))
    notes: list[str] = []
    emulator = _emulator_host(lam, location)
    if emulator:
        # An emulator's Location names AWS's host, which serves nothing it stored: do not send a request there.
        data, problem = None, f"the Lambda endpoint is an emulator ({emulator}) and Location points at AWS"
    else:
        data, problem = _download(location)
    source = f"Code.Location ({urlparse(location).hostname or 'no host'})"
    if data is not None and expected_sha and _sha256_b64(data) != expected_sha:
        notes.append(f"the zip from {source} does not match CodeSha256 {expected_sha}; trying S3")
        data = None
    if data is None:
        data, source = _from_s3(function, location, expected_sha, artifact, target, region, problem)
        notes.append(f"Code.Location was not usable ({problem}); used the deployment artifact {source}")
    _unzip(data, dest)
    environment = {str(k): str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}
    return FetchedCode(function=function, handler=str(config.get("Handler", "")), folder=dest, source=source,
                        code_sha256=expected_sha, environment=environment, notes=tuple(notes))


def _emulator_host(lam: Any, location: str) -> str | None:
    endpoint = urlparse(str(getattr(lam.meta, "endpoint_url", "") or "")).hostname or ""
    location_host = urlparse(location).hostname or ""
    if endpoint and not endpoint.endswith(_AWS_HOSTS) and location_host.endswith(_AWS_HOSTS):
        return endpoint
    return None


def _download(location: str) -> tuple[bytes | None, str]:
    if not location.startswith(("https://", "http://")):
        return None, f"Location is {location.split(':', 1)[0] or 'empty'!r}, not a URL"
    host = urlparse(location).hostname or "?"
    try:
        response = requests.get(location, timeout=LOCATION_TIMEOUT_S)
    except requests.RequestException as exc:
        return None, f"{host} unreachable: {type(exc).__name__}"
    if response.status_code != 200:
        return None, f"{host} answered HTTP {response.status_code}"
    return response.content, ""


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _from_s3(function: str, location: str, expected_sha: str, artifact: str | None, target: Target | None,
             region: str | None, problem: str) -> tuple[bytes, str]:
    s3 = client("s3", target, region_name=region)
    candidates: list[tuple[str, str]] = []
    if artifact:
        parsed = urlparse(artifact)
        if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
            raise DeployVerifyError(f"{artifact!r} is not s3://BUCKET/KEY", where="--artifact")
        candidates.append((parsed.netloc, parsed.path.lstrip("/")))
    key = unquote(urlparse(location).path.lstrip("/")) if location else ""
    if key and not artifact:
        try:
            buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
        except (ClientError, BotoCoreError) as exc:
            raise DeployVerifyError(f"Code.Location of `{function}` is not usable ({problem}) and S3 cannot be "
                                    f"listed to find the deployment artifact: {exc}",
                                    where=f"function {function}") from None
        candidates += [(bucket, key) for bucket in buckets]
    for bucket, object_key in candidates:
        try:
            body = s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
        except (ClientError, BotoCoreError):
            continue
        if expected_sha and _sha256_b64(body) != expected_sha and not artifact:
            continue
        return body, f"s3://{bucket}/{object_key}"
    if artifact:
        raise DeployVerifyError(f"the artifact {artifact} cannot be read", where="--artifact")
    raise DeployVerifyError(
        f"cannot fetch the code of `{function}`: Code.Location is not usable ({problem}) and no S3 bucket holds "
        f"`{key or '(no key)'}` with CodeSha256 {expected_sha or '(unknown)'}. The function was probably created "
        "from a direct zip upload, whose only copy is Lambda's; run where Code.Location is reachable, or pass "
        "--artifact s3://BUCKET/KEY naming the zip it was deployed from", where=f"function {function}")


def _unzip(data: bytes, dest: Path) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DeployVerifyError("the deployed code is not a zip archive", where=str(dest)) from None
    total = sum(info.file_size for info in archive.infolist())
    if total > MAX_UNZIPPED_BYTES:
        raise DeployVerifyError(f"the deployed zip unpacks to {total} bytes, more than Lambda allows",
                                where=str(dest))
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    for info in archive.infolist():
        name = PurePosixPath(info.filename)
        if name.is_absolute() or ".." in name.parts:
            raise DeployVerifyError(f"the deployed zip has an unsafe path {info.filename!r}", where=str(dest))
        out = (root / Path(*name.parts)).resolve()
        if not out.is_relative_to(root):
            raise DeployVerifyError(f"the deployed zip has an unsafe path {info.filename!r}", where=str(dest))
        if info.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(archive.read(info))
