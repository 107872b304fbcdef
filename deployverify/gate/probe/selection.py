"""Choose where code runs: the Lambda image in Docker, else bubblewrap, else a plain host process.

The choice and the reason travel together, so a report can say which isolation was used and why (DV230).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deployverify.gate.probe import bubblewrap, docker_sandbox, plain
from deployverify.gate.probe.sandbox import Sandbox, SandboxUnavailable
from deployverify.target.model import Target


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
    """The best sandbox that can run here. With `require_image`, only the image will do (SandboxUnavailable else)."""
    wanted = image or target.container_image
    version = target.python_version
    try:
        sandbox: Sandbox = docker_sandbox.connect(wanted, version, pull=pull)
        return Selection(sandbox, f"image `{wanted}` is available", False, wanted)
    except SandboxUnavailable as exc:
        docker_reason = exc.detail
    if require_image:
        raise SandboxUnavailable(f"{docker_reason}; --require-image forbids falling back to a sandbox")
    passed_over = [f"docker: {docker_reason}"]
    for kind, connect in (("bubblewrap", bubblewrap.connect), ("plain", plain.connect)):
        try:
            sandbox = connect(version)
        except SandboxUnavailable as exc:
            passed_over.append(f"{kind}: {exc.detail}")
            continue
        return Selection(sandbox, "; ".join(passed_over), True, wanted, tuple(passed_over))
    raise SandboxUnavailable("no sandbox can run the probe: " + "; ".join(passed_over))
