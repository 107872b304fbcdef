"""The lowest-fidelity sandbox: the host's CPython (same version as the runtime) in isolated mode.

`python -I` with a cleared environment (only the function's and Lambda's variables), run in a scratch copy of the
bundle so nothing it writes reaches the real one. Paths are the copy's, not /var/task; the host's filesystem,
network and OS libraries are all visible. The runtime-included SDK is linked from the harness's own environment.
Use it only when neither Docker nor bubblewrap can run; DV230 says so in the report.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from deployverify.gate.probe.host_python import HostPython, find_host_python, host_sdk_packages
from deployverify.gate.probe.sandbox import (
    Completed,
    ProcessRunning,
    Spec,
    fill_spec,
    merged_layers,
    run_process,
    scratch_dir,
)


class PlainSandbox:
    kind = "plain"
    fidelity = "a host process (python -I, cleared environment): host paths, filesystem, network and libraries"

    def __init__(self, python: HostPython) -> None:
        self.host = python

    def describe(self) -> str:
        return f"a plain host process, CPython {self.host.version} ({self.host.executable}), lower fidelity"

    def _prepare(self, spec: Spec, scratch: Path) -> tuple[list[str], dict[str, str], Path]:
        task = scratch / "task"
        shutil.copytree(spec.bundle, task, symlinks=True)
        opt = merged_layers(spec.layers, scratch) or (scratch / "opt")
        opt.mkdir(exist_ok=True)
        sdk = scratch / "lang" / "lib" / f"python{self.host.version}" / "site-packages"
        sdk.mkdir(parents=True)
        for name, path in host_sdk_packages().items():
            (sdk / (path.name if path.is_file() else name)).symlink_to(path)
        (scratch / "tmp").mkdir()
        (scratch / "runtime").mkdir()
        places = {"python": str(self.host.executable), "task": str(task), "opt": str(opt), "site": str(sdk),
                  "runtime": str(scratch / "runtime"),
                  "tools": str(spec.tools.resolve()) if spec.tools else str(scratch)}
        argv, env = fill_spec(spec, places)
        env["TMPDIR"] = str(scratch / "tmp")
        return argv, env, task

    def run(self, spec: Spec, timeout_s: float) -> Completed:
        scratch = scratch_dir("plain")
        try:
            argv, env, task = self._prepare(spec, scratch)
            return run_process(argv, env=env, cwd=task, timeout_s=timeout_s)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def start(self, spec: Spec) -> ProcessRunning:
        scratch = scratch_dir("plain")
        try:
            argv, env, task = self._prepare(spec, scratch)
            return ProcessRunning(argv, env=env, cwd=task, stdin=spec.stdin, cleanup=scratch)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise


def connect(python_version: str) -> PlainSandbox:
    return PlainSandbox(find_host_python(python_version))
