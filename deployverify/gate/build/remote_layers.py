"""Remote layers (a function's `Layers:` entry that is an ARN) turned into folders the gate mounts at /opt.

In order of preference: the layer's own content, downloaded with GetLayerVersionByArn when AWS answers (credentials
in the environment, an https download link); else a known public layer rebuilt from PyPI (public_layers.py); else
one DV101 line naming the ARN and how to declare it. The declared order is kept: Lambda extracts layers into /opt in
the order the function lists them, and a later layer wins.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from pathlib import Path

import requests
from botocore.exceptions import BotoCoreError, ClientError

from deployverify.core.progress import say
from deployverify.gate.build.cached import BuiltBundle
from deployverify.gate.build.public_layers import LayerUnavailable, fill_once, resolve_remote_layer
from deployverify.target.model import Bundle, Target

DOWNLOAD_TIMEOUT_S = 60


def _downloaded(arn: str, cache_dir: Path) -> Path | None:
    """The layer's own content, when AWS answers GetLayerVersionByArn with a downloadable link; None otherwise."""
    import boto3

    if boto3.Session().get_credentials() is None or "${" in arn:
        return None  # no credentials, or a region only the deploy knows: there is nothing to ask
    from deployverify.aws.session import client

    try:
        answer = client("lambda", region_name=arn.split(":")[3], max_attempts=1).get_layer_version_by_arn(Arn=arn)
    except (BotoCoreError, ClientError):
        return None
    location = str(answer.get("Content", {}).get("Location", ""))
    if not location.startswith("https://"):
        return None  # an emulator's s3:// placeholder: not a download link
    folder = cache_dir / "layers" / ("aws-" + hashlib.sha256(arn.encode()).hexdigest()[:24])

    def download(staging: Path) -> str | None:
        try:
            response = requests.get(location, timeout=DOWNLOAD_TIMEOUT_S)
            response.raise_for_status()
            with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
                # a layer zip is extracted under /opt: nothing in it may leave that folder
                if any(m.startswith("/") or ".." in Path(m).parts for m in archive.namelist()):
                    return "its zip holds paths outside the layer folder"
                archive.extractall(staging)
        except (requests.RequestException, zipfile.BadZipFile, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    if fill_once(folder, download):
        return None  # fall back to the known public layers
    say(f"downloaded layer {arn} with GetLayerVersionByArn")
    return folder


def concrete_arn(arn: str, target: Target) -> str:
    """The ARN with the template's `${AWS::Region}`/`${AWS::Partition}` filled in where the target knows them
    (`deployverify init` keeps them as the template wrote them: only the deploy knows the region)."""
    arn = arn.replace("${AWS::Partition}", "aws")
    return arn.replace("${AWS::Region}", target.region) if target.region else arn


def remote_layer_folder(arn: str, target: Target, cache_dir: Path) -> Path | LayerUnavailable:
    arn = concrete_arn(arn, target)
    return _downloaded(arn, cache_dir) or resolve_remote_layer(arn, target.runtime, target.architecture, cache_dir)


def with_remote_layers(built: BuiltBundle, bundle: Bundle, target: Target, cache_dir: Path) -> BuiltBundle:
    """`built` with the bundle's remote layers in their declared places. A layer that cannot be had is left out and
    named in `missing_layers` (a DV101 warning), so the other checks still run: many such layers ship no Python at
    all (an extension, the Lambda Web Adapter), and a module only the layer provides fails the import checks."""
    if not bundle.remote_layers:
        return built
    ordered: list[Path] = list(built.layers)
    missing: list[str] = []
    for position, arn in sorted(bundle.remote_layers):
        folder = remote_layer_folder(arn, target, cache_dir)
        if isinstance(folder, LayerUnavailable):
            missing.append(folder.message())
            continue
        ordered.insert(min(position, len(ordered)), folder)
    return dataclasses.replace(built, layers=tuple(ordered), missing_layers=tuple(missing))
