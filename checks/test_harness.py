"""DV0xx: the gate can do its job on this machine."""

from __future__ import annotations

import shutil

from deployverify.core import check as dv
from deployverify.core.check import check
from deployverify.gate.probe import SandboxUnavailable, Selection
from deployverify.gate.probe.docker_sandbox import ImageLacksRuntime
from deployverify.gate.probe.selection import how_to_get_a_sandbox
from deployverify.target import Target


@check("DV001")
def test_prerequisites_available(target: Target, sandbox: Selection | SandboxUnavailable) -> None:
    """The tools the gate needs are here: the target's build tool (bash for a build command, the SAM CLI for
    `sam build`) and a sandbox for the import probe (the Lambda image, bubblewrap or an isolated interpreter).

    On a laptop a missing tool skips the checks that need it; with CI=true it fails the run, because a gate that
    silently skipped its probe would pass a broken bundle. An image that is here but cannot run the function's
    runtime is not a missing tool but a wrong setting: DV230 fails on it, and this check is blocked by DV230.
    """
    if target.bundle.command and shutil.which("bash") is None:
        dv.missing("bash", "the target's build command runs with bash", "install bash")
    if target.bundle.sam and shutil.which("sam") is None:
        dv.missing("the SAM CLI (`sam`)", "bundle.sam needs `sam build`", "pip install aws-sam-cli")
    if isinstance(sandbox, ImageLacksRuntime):
        dv.blocked("DV230", sandbox.detail)
    if isinstance(sandbox, SandboxUnavailable):
        dv.missing("a sandbox for the import probe", sandbox.detail,
                   how_to_get_a_sandbox(sandbox, target.python_version))
    dv.evidence(f"probe sandbox: {sandbox.summary()}")
