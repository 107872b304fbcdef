"""Cross-builds: install a function's dependencies for Lambda's platform from a host that cannot run its runtime.

aws-lambda-builders (builtin.py) refuses to run pip under any interpreter but the runtime's, because pip would pick
wheels for the host's CPython. When the host has no such interpreter (python3.13 on a 3.11 CI runner), or the function
runs on another architecture (arm64 on an x86_64 runner), pip can still choose the right wheels if it is told the
platform instead of reading it from the host:

    pip install --platform manylinux2014_<cpu> --implementation cp --python-version X.Y --only-binary=:all: --target

`--only-binary=:all:` is what makes this safe: an sdist would be built by the host's compiler for the host. The cost
is that a dependency published without a wheel for the platform cannot be installed: `MissingWheel` names it.

Lambda's glibc (2.26 on Amazon Linux 2, 2.34 on Amazon Linux 2023) also accepts newer `manylinux_2_x` wheels than
manylinux2014 (2.17), so those tags are offered too, up to the runtime's glibc; DV202 would reject anything newer.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

from deployverify.core.errors import BuildError, telling_line
from deployverify.core.redact import redact
from deployverify.lambda_image.runtimes import runtime_info

PIP_TIMEOUT_S = 900
# Lambda architecture -> the CPU name in wheel platform tags (and in `platform.machine()` on Linux).
WHEEL_CPU = {"x86_64": "x86_64", "arm64": "aarch64"}
# The first manylinux_2_x tag after manylinux2014 (glibc 2.17).
_FIRST_PEP600_MINOR = 18
# What pip prints when no candidate fits: "No matching distribution found for pkg==1.0" (older pips said "for pkg").
_NO_MATCH = re.compile(r"No matching distribution found for ([^\s;]+)")
_NO_VERSION = re.compile(r"Could not find a version that satisfies the requirement ([^\s;]+)")
# What `sam build` (aws-lambda-builders) prints when the runtime's interpreter is not on PATH.
_SAM_NO_INTERPRETER = re.compile(
    r"Binary validation failed for python.*?Do you have python for runtime: (python3\.\d+)", re.DOTALL)
# The line run.py makes of it (sam_missing_interpreter_advice): what a BuildError carries, also when read back from a
# failed shared build's recorded outcomes.
_NO_INTERPRETER_ADVICE = re.compile(r"`sam build` needs a (python3\.\d+) interpreter on PATH and this host has none")


class MissingWheel(BuildError):
    """A dependency has no wheel for the function's platform, so a cross-build cannot install it."""

    def __init__(self, requirement: str, platform_text: str, tail: str) -> None:
        self.requirement = requirement
        self.platform_text = platform_text
        message = (f"`{requirement}` has no wheel for {platform_text}, and a cross-build installs wheels only (an "
                   f"sdist would be compiled for this host): pin a version that publishes one, or build on a "
                   f"{platform_text.split(',')[0]} host")
        super().__init__(message, command=f"pip install --only-binary=:all: ({platform_text})", code=1,
                         tail=f"{tail}\n{message}".strip(), cause=message)


@cache
def host_interpreter(runtime: str) -> Path | None:
    """An interpreter of the runtime's Python version: this one, or a `pythonX.Y` on PATH that really is one.

    Being on PATH is not enough: a pyenv shim named python3.12 exists whether or not 3.12 is installed, and fails
    when run (aws-lambda-builders runs it too, and refuses it)."""
    version = runtime_info(runtime).python
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return Path(sys.executable)
    found = shutil.which(f"python{version}")
    if not found:
        return None
    try:
        done = subprocess.run([found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(found) if done.returncode == 0 and done.stdout.strip() == version else None


def cross_build_reason(runtime: str, architecture: str) -> str | None:
    """Why this host cannot build natively for the runtime and architecture, or None when it can."""
    host_cpu = platform.machine().lower().replace("arm64", "aarch64").replace("amd64", "x86_64")
    wanted_cpu = WHEEL_CPU[architecture]
    if host_cpu != wanted_cpu:
        return f"this host is {host_cpu} and the function runs on {architecture}"
    if host_interpreter(runtime) is None:
        return f"this host has no {runtime} interpreter on PATH"
    return None


def platform_tags(runtime: str, architecture: str) -> list[str]:
    """manylinux2014_<cpu> first, then every manylinux_2_x up to the runtime's glibc (newest first)."""
    info = runtime_info(runtime)
    cpu = WHEEL_CPU[architecture]
    major, minor = info.glibc_tuple
    newer = [f"manylinux_{major}_{m}_{cpu}" for m in range(minor, _FIRST_PEP600_MINOR - 1, -1)]
    return [f"manylinux2014_{cpu}", *newer]


def pip_platform_args(runtime: str, architecture: str) -> list[str]:
    args: list[str] = []
    for tag in platform_tags(runtime, architecture):
        args += ["--platform", tag]
    return [*args, "--implementation", "cp", "--python-version", runtime_info(runtime).python,
            "--only-binary=:all:"]


def describe_platform(runtime: str, architecture: str) -> str:
    return f"manylinux2014_{WHEEL_CPU[architecture]}, CPython {runtime_info(runtime).python}"


def pip_install_for_lambda(requirements: list[str], target_dir: Path, runtime: str, architecture: str) -> str:
    """Install `requirements` (pip arguments: `-r file` or specifiers) into target_dir for Lambda's platform.

    Returns pip's last lines; raises MissingWheel naming the dependency without a wheel, else BuildError."""
    command = [sys.executable, "-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--no-compile",
               "--upgrade", "--target", str(target_dir), *pip_platform_args(runtime, architecture), *requirements]
    shown = " ".join(["pip", "install", "--target", str(target_dir), *pip_platform_args(runtime, architecture),
                      *requirements])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise BuildError(f"`{shown}` did not finish in {PIP_TIMEOUT_S}s", command=shown, code=-9,
                         tail=f"killed after {PIP_TIMEOUT_S}s") from None
    output = f"{done.stdout}\n{done.stderr}"
    tail = redact("\n".join(output.strip().splitlines()[-15:]))
    if done.returncode != 0:
        missing = _NO_MATCH.search(output) or _NO_VERSION.search(output)
        if missing:
            raise MissingWheel(missing.group(1), describe_platform(runtime, architecture), tail)
        raise BuildError(f"`{shown}` exited {done.returncode}: {telling_line(tail)}", command=shown,
                         code=done.returncode, tail=tail)
    return tail


def cross_build(source: Path, requirements: Path | None, output: Path, runtime: str, architecture: str) -> str:
    """What `sam build` does for a python_pip function, for a platform this host cannot run: dependencies first,
    then the function's code copied on top (the code wins over a dependency of the same name, as in sam build)."""
    tail = ""
    if requirements is not None and requirements.is_file() and requirements.read_text().strip():
        tail = pip_install_for_lambda(["-r", str(requirements)], output, runtime, architecture)
    shutil.copytree(source, output, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".aws-sam", ".git", "*.pyc"))
    return tail


def sam_missing_interpreter(output: str) -> str | None:
    """The runtime `sam build` could not find an interpreter for, when that is why it failed."""
    match = _SAM_NO_INTERPRETER.search(output)
    return match.group(1) if match else None


def missing_interpreter_of(error: BuildError) -> str | None:
    """The runtime whose interpreter a failed `sam build` lacked, when that alone is why it failed."""
    match = _NO_INTERPRETER_ADVICE.search(error.cause or "")
    return match.group(1) if match else None


def sam_missing_interpreter_advice(runtime: str) -> str:
    """The cause of a `sam build` that found no interpreter of `runtime`. The gate cross-builds a `bundle.sam`
    function then (sam_cross.py); this is what is left for a build command that runs sam itself."""
    # The built-in builder is chosen by naming the code folder instead of the template (bundle.source); it
    # cross-builds, so it needs no interpreter of the runtime's version.
    return (f"`sam build` needs a {runtime} interpreter on PATH and this host has none; use the built-in builder "
            f"(`bundle.source: <the function's CodeUri>` and `bundle.requirements` instead of the build command) to "
            f"cross-build with pip --platform manylinux2014 --python-version {runtime_info(runtime).python}, or "
            f"install {runtime}")
