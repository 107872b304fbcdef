"""Public layers the gate can rebuild without AWS: a layer ARN -> the PyPI package and version it holds.

Many SAM applications take Powertools for AWS Lambda (Python) from AWS's public layer instead of requirements.txt.
When the layer cannot be downloaded (no AWS access in CI, or the probe is offline), its content is still known: it is
the `aws-lambda-powertools` distribution with its extras, built for one architecture (and, from V3, one Python). That
is installed here with the cross-build's pip (cross.py: wheels for Lambda's platform only) into a cached layer folder,
`<cache>/layers/<hash>/python/`, which the gate mounts at /opt like the real layer.

Every published naming scheme of account 017000801446 (aws-cn: 498634801083):
- `AWSLambdaPowertoolsPython:N`                                   v1, x86_64
- `AWSLambdaPowertoolsPythonV2:N`, `AWSLambdaPowertoolsPythonV2-Arm64:N`          v2
- `AWSLambdaPowertoolsPythonV3-python3XX-x86_64:N`, `...-python3XX-arm64:N`         v3, one layer per Python

Layer version -> package version: the project publishes no table, so only the versions its release notes tie to a
layer version are pinned (docs(layer) pull requests #5344, #5426, #5785: v3.1.0 -> 2, v3.2.0 -> 3, v3.4.0 -> 5; the
first V3 layer is v3.0.0). Any other version installs the newest release of the layer's major version that has wheels
for the runtime, and says so: close to, not exactly, what that layer holds.

Any other ARN is `LayerUnavailable`, one result naming it and how to declare it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from deployverify.core.errors import BuildError, TargetError
from deployverify.core.progress import say
from deployverify.gate.build.cross import pip_install_for_lambda, platform_tags
from deployverify.gate.build.layer_names import REBUILT_LAYER_MARKER
from deployverify.lambda_image.runtimes import runtime_info

POWERTOOLS_ACCOUNTS = ("017000801446", "498634801083")
POWERTOOLS_PACKAGE = "aws-lambda-powertools"
# The region may still be the template's `${AWS::Region}` (it cannot be resolved before deploy), which holds colons.
_LAYER_ARN = re.compile(r"^arn:(?P<partition>[\w-]+):lambda:(?P<region>.*?):(?P<account>\d{12}):layer:"
                        r"(?P<name>[A-Za-z0-9_-]+):(?P<version>\d+)$")
_V1 = re.compile(r"^AWSLambdaPowertoolsPython$")
_V2 = re.compile(r"^AWSLambdaPowertoolsPythonV2(?P<arm>-Arm64)?$")
_V3 = re.compile(r"^AWSLambdaPowertoolsPythonV3-python3(?P<minor>\d+)-(?P<arch>x86_64|arm64)$")
# (major, layer version) -> package version, from the sources in the module docstring.
_PINNED = {(3, 1): "3.0.0", (3, 2): "3.1.0", (3, 3): "3.2.0", (3, 5): "3.4.0"}
# What each major version's layer installs beside the core package (v1 predates the `all` extra).
_EXTRAS = {1: "[pydantic]", 2: "[all]", 3: "[all]"}


@dataclass(frozen=True)
class PublicLayer:
    arn: str
    package: str
    major: int
    layer_version: int
    architecture: str          # what the layer was built for, which may differ from the function's (DV201 says so)
    python: str | None         # V3 layers are built for one Python; earlier ones for every supported one
    pinned_version: str | None  # None: the newest release of `major` stands in for it

    @property
    def requirement(self) -> str:
        spec = f"=={self.pinned_version}" if self.pinned_version else f">={self.major},<{self.major + 1}"
        return f"{self.package}{_EXTRAS[self.major]}{spec}"

    def describe(self) -> str:
        exact = "" if self.pinned_version else " (its exact release is not published: the newest of the series)"
        return f"{self.requirement} for {self.architecture}{exact}"


@dataclass(frozen=True)
class LayerUnavailable:
    """A remote layer the gate could not get: one result names it and says how to declare it."""

    arn: str
    reason: str

    def message(self) -> str:
        return (f"layer `{self.arn}` is not available to the gate: {self.reason}; the checks ran without it (a "
                "module only it provides fails DV211/DV220); if it ships Python, declare its content instead: a "
                "folder whose python/ holds what the layer ships (a LayerVersion resource, or `pip install -t "
                "<folder>/python ...`) in the function's layers, or let the gate reach AWS to download it")


def known_public_layer(arn: str) -> PublicLayer | None:
    """The Powertools layer an ARN names, or None for any other ARN."""
    match = _LAYER_ARN.match(arn.strip())
    if not match or match["account"] not in POWERTOOLS_ACCOUNTS:
        return None
    name, version = match["name"], int(match["version"])
    if _V1.match(name):
        return PublicLayer(arn, POWERTOOLS_PACKAGE, 1, version, "x86_64", None, None)
    if v2 := _V2.match(name):
        return PublicLayer(arn, POWERTOOLS_PACKAGE, 2, version, "arm64" if v2["arm"] else "x86_64", None, None)
    if v3 := _V3.match(name):
        return PublicLayer(arn, POWERTOOLS_PACKAGE, 3, version, v3["arch"], f"3.{v3['minor']}",
                           _PINNED.get((3, version)))
    return None


def _layer_runtime(layer: PublicLayer, runtime: str) -> str:
    """A V3 layer is built for the Python in its name, whatever the function runs: install that (DV203 judges it)."""
    return f"python{layer.python}" if layer.python else runtime


def fill_once(folder: Path, fill: Callable[[Path], str | None],
              ready: Callable[[Path], bool] = Path.is_dir) -> str | None:
    """Make `folder` once across processes, whole or not at all: `fill` writes into a scratch folder that is renamed
    into place only when it returns None, so a killed or failed fill never looks like a layer. Returns the failure."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if ready(folder):
            return None
        staging = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            failure = fill(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if failure:
            shutil.rmtree(staging, ignore_errors=True)
            return failure
        staging.rename(folder)
    return None


def resolve_remote_layer(arn: str, runtime: str, arch: str, cache_dir: Path) -> Path | LayerUnavailable:
    """The folder to mount at /opt for a remote layer (its python/ on sys.path), built once per content.

    `arch` is the function's architecture; a known layer is installed for the architecture it was published for,
    so a function that takes the x86_64 layer on arm64 is shown its foreign native code by DV201, as Lambda would.
    """
    layer = known_public_layer(arn)
    if layer is None:
        return LayerUnavailable(arn, "it cannot be downloaded without AWS access and is not a known public layer "
                                     f"(known: Powertools for AWS Lambda (Python), account {POWERTOOLS_ACCOUNTS[0]})")
    layer_runtime = _layer_runtime(layer, runtime)
    try:
        runtime_info(layer_runtime)
    except TargetError as exc:  # a layer for a Python no Lambda runtime has
        return LayerUnavailable(arn, str(exc))
    key_text = json.dumps([layer.requirement, layer_runtime, layer.architecture,
                           platform_tags(layer_runtime, layer.architecture)])
    folder = cache_dir / "layers" / hashlib.sha256(key_text.encode()).hexdigest()[:24]
    mismatch = f"; the function runs on {arch}, which DV201 will judge" if arch != layer.architecture else ""

    def install(staging: Path) -> str | None:
        say(f"installing public layer {arn} as {layer.describe()} (it cannot be downloaded here){mismatch}")
        try:
            pip_install_for_lambda([layer.requirement], staging / "python", layer_runtime, layer.architecture)
        except BuildError as exc:
            return f"it is {layer.describe()}, and installing that failed: {exc}"
        (staging / REBUILT_LAYER_MARKER).write_text(json.dumps(
            {"arn": arn, "requirement": layer.requirement, "runtime": layer_runtime,
             "architecture": layer.architecture, "pinned": layer.pinned_version is not None}))
        return None

    failure = fill_once(folder, install, ready=lambda f: (f / "python").is_dir())
    if failure:
        return LayerUnavailable(arn, failure)
    return folder
