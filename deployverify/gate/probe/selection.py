"""Choose where code runs: the Lambda image in Docker, else bubblewrap, else a plain host process.

The choice and the reason travel together, so a report can say which isolation was used and why (DV230).

Every sandbox runs the host's CPU, or the image's: an arm64 function on an x86_64 host can be probed only by an arm64
image the engine can run (emulation). Where none can, no sandbox is chosen (ArchitectureUnavailable): importing
aarch64 extensions in an x86_64 interpreter would report failures Lambda never has. The static checks still run.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

from deployverify.gate.probe import bubblewrap, docker_sandbox, plain
from deployverify.gate.probe.sandbox import Sandbox, SandboxUnavailable
from deployverify.lambda_image.docker import image_architecture
from deployverify.target.model import Target

# Lambda architecture -> what `platform.machine()` and Docker call it.
_HOST_NAMES = {"x86_64": ("x86_64", "amd64"), "arm64": ("aarch64", "arm64")}
# What an architecture the host cannot run still gets: the checks that read files, not run them.
STATIC_CHECKS = ("DV201", "DV202", "DV203", "DV204", "DV205", "DV222", "DV3xx")
PROBE_CHECKS = ("DV211", "DV212", "DV220", "DV221")


class ArchitectureUnavailable(SandboxUnavailable):
    """No sandbox here runs the function's architecture: the probe cannot run, the static checks can."""

    def __init__(self, architecture: str, host: str, detail: str) -> None:
        super().__init__(detail)
        self.architecture = architecture
        self.host = host

    def plainly(self) -> str:
        return (f"this {self.host} host cannot run the {self.architecture} image ({self.detail}): "
                f"{', '.join(STATIC_CHECKS)} ran statically on the bundle's files; {', '.join(PROBE_CHECKS)} "
                f"could not run (they import the code)")


class ImageRequired(SandboxUnavailable):
    """The image cannot be used and --require-image forbids the fallback sandboxes that could run here."""


def how_to_get_a_sandbox(unavailable: SandboxUnavailable, python_version: str) -> str:
    """What to do when no sandbox can run the probe: only a run that forbade the fallbacks is told to allow them."""
    if isinstance(unavailable, ArchitectureUnavailable):
        arch = unavailable.architecture
        return (f"run the gate on an {arch} host, or with an {arch} image Docker can emulate, or accept static checks "
                f"only with `bundle.static_only: [{arch}]`")
    start = "start Docker and make the image available (docker pull, or .ci/lambda-image.sh for the local one)"
    if isinstance(unavailable, ImageRequired):
        return f"{start}, or drop --require-image"
    return f"{start}, or install python{python_version} on this host for a lower-fidelity fallback sandbox"


def how_to_fix_a_failed_probe(error: str, image: str, python_version: str) -> str:
    """What to do when the chosen sandbox started but the probe gave no report (the probe is deployverify's own)."""
    if "exec format error" in error:
        return (f"the interpreter in `{image}` is for another CPU (or no program): use the runtime's image for this "
                "host's architecture, or enable emulation (binfmt / qemu-user-static)")
    return (f"check that the sandbox runs Python at all (`docker run --rm --entrypoint python{python_version} "
            f"{image} -c pass`), then read the probe's output in the evidence")


def host_architecture() -> str:
    machine = platform.machine().lower()
    return next((arch for arch, names in _HOST_NAMES.items() if machine in names), machine)


@dataclass(frozen=True)
class Selection:
    sandbox: Sandbox
    reason: str                    # why this one: "image `x` is present", or why the better ones could not run
    fallback: bool                 # True when this is not the Lambda image
    image: str
    passed_over: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        return self.sandbox.kind

    def summary(self) -> str:
        return f"{self.sandbox.describe()}: {self.reason}"


def select_sandbox(target: Target, *, require_image: bool = False, image: str | None = None,
                   pull: bool = True) -> Selection:
    """The best sandbox that can run here. With `require_image`, only the image will do (SandboxUnavailable else).
    An image that is here but cannot run the runtime raises ImageLacksRuntime whatever `require_image` says."""
    wanted = image or target.container_image
    version = target.python_version
    host = host_architecture()
    try:
        sandbox: Sandbox = docker_sandbox.connect(wanted, version, pull=pull)
    except docker_sandbox.ImageLacksRuntime:
        raise  # a wrong image setting, not a missing image: no fallback hides it
    except SandboxUnavailable as exc:
        docker_reason = exc.detail
    else:
        image_arch = image_architecture(wanted)
        if image_arch is None or image_arch in _HOST_NAMES.get(target.architecture, ()):
            return Selection(sandbox, f"image `{wanted}` is available", False, wanted)
        docker_reason = f"image `{wanted}` is {image_arch}, not {target.architecture}"
    if host != target.architecture:
        # bubblewrap and a plain process run the host's interpreter: no fallback can run this architecture.
        raise ArchitectureUnavailable(target.architecture, host, docker_reason)
    if require_image:
        raise ImageRequired(f"{docker_reason}; --require-image forbids falling back to a sandbox")
    passed_over = [("docker", docker_reason)]
    for kind, connect in (("bubblewrap", bubblewrap.connect), ("plain", plain.connect)):
        try:
            sandbox = connect(version)
        except SandboxUnavailable as exc:
            passed_over.append((kind, exc.detail))
            continue
        reasons = _grouped(passed_over)
        return Selection(sandbox, "; ".join(reasons), True, wanted, tuple(reasons))
    raise SandboxUnavailable("no sandbox can run the probe: " + "; ".join(_grouped(passed_over)))


def _grouped(passed_over: list[tuple[str, str]]) -> list[str]:
    """`kind: why` once per reason: bubblewrap and a plain process both run the host's interpreter, so they are
    usually passed over for the same one, which a report need not read twice."""
    kinds_by_reason: dict[str, list[str]] = {}
    for kind, reason in passed_over:
        kinds_by_reason.setdefault(reason, []).append(kind)
    return [f"{' and '.join(kinds)}: {reason}" for reason, kinds in kinds_by_reason.items()]
