"""The Lambda image through the Docker engine: the highest-fidelity sandbox.

Every Docker SDK call goes through deployverify/lambda_image/docker.py, the one Docker adapter, which the local
stack uses too; this module only maps a `Spec` to a container.

Each command runs in a fresh container of the runtime's image: bundle read-only at /var/task, layers read-only at
/opt, a read-only root filesystem with a tmpfs /tmp (Lambda's only writable folder), Lambda's user (uid 993), a
memory limit, no network unless the spec asks for the host's. The container is removed in `finally`, whatever
happened.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deployverify.gate.probe.sandbox import Completed, SandboxUnavailable, Spec, fill_spec, merged_layers, scratch_dir
from deployverify.lambda_image.docker import (
    LAMBDA_USER,
    TASK_ROOT,
    LambdaContainer,
    engine_problem,
    ensure_image,
    executable_problem,
    lambda_tmpfs,
)
from deployverify.lambda_image.runtimes import interpreter_path
from deployverify.target.model import DEFAULT_IMAGE

TOOLS_MOUNT = "/var/deployverify"
PIDS_LIMIT = 4096


class DockerSandbox:
    kind = "docker"
    fidelity = "the Lambda image: its interpreter, OS libraries, runtime-included SDK and file layout"

    def __init__(self, image: str, python_version: str, *, user: str = LAMBDA_USER) -> None:
        self.image = image
        self.python_version = python_version
        self.user = user

    def describe(self) -> str:
        return f"Docker container of `{self.image}`"

    @property
    def python(self) -> str:
        return interpreter_path(self.python_version)

    def _places(self) -> dict[str, str]:
        return {"python": self.python, "task": "/var/task", "opt": "/opt", "tools": TOOLS_MOUNT,
                "site": f"/var/lang/lib/python{self.python_version}/site-packages", "runtime": "/var/runtime"}

    def _create(self, spec: Spec, scratch: Path, *, detach_stdin: bool) -> LambdaContainer:
        argv, env = fill_spec(spec, self._places())
        volumes = {str(spec.bundle.resolve()): {"bind": TASK_ROOT, "mode": "ro"}}
        opt = merged_layers(spec.layers, scratch)
        if opt is not None:
            volumes[str(opt.resolve())] = {"bind": "/opt", "mode": "ro"}
        if spec.tools is not None:
            volumes[str(spec.tools.resolve())] = {"bind": TOOLS_MOUNT, "mode": "ro"}
        return LambdaContainer.create(
            self.image, argv=list(argv), env=dict(env), volumes=volumes, memory_mb=spec.memory_mb,
            tmpfs=lambda_tmpfs(f"{spec.tmp_mb}m", nosuid=True), name=f"{spec.name}-{secrets.token_hex(4)}",
            labels={"deployverify": spec.name}, network=spec.network, user=self.user, stdin_open=detach_stdin,
            pids_limit=PIDS_LIMIT)

    def run(self, spec: Spec, timeout_s: float) -> Completed:
        scratch = scratch_dir("docker")
        container = None
        started = time.perf_counter()
        try:
            container = self._create(spec, scratch, detach_stdin=False)
            container.start()
            code = container.wait(timeout_s)
            timed_out = code is None
            if timed_out:
                container.kill()
            stdout, stderr = container.output()
            return Completed(code, stdout, stderr, time.perf_counter() - started, timed_out)
        finally:
            if container is not None:
                container.remove()
            shutil.rmtree(scratch, ignore_errors=True)

    def start(self, spec: Spec) -> DockerRunning:
        scratch = scratch_dir("docker")
        container = None
        try:
            container = self._create(spec, scratch, detach_stdin=spec.stdin)
            container.start()
        except BaseException:
            if container is not None:
                container.remove()
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return DockerRunning(container, scratch)


class DockerRunning:
    """A started container: its merged output as lines, its stdin (when started with stdin=True), stop = remove."""

    def __init__(self, container: LambdaContainer, scratch: Path) -> None:
        self.container = container
        self._scratch: Path | None = scratch
        self._socket: Any = None
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return self.container.id

    def lines(self) -> Iterator[str]:
        pending = b""
        for chunk in self.container.follow():
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                yield raw.decode("utf-8", errors="replace")
        if pending:
            yield pending.decode("utf-8", errors="replace")

    def write(self, data: bytes) -> None:
        if self._socket is None:
            self._socket = self.container.attach_stdin()
        raw = getattr(self._socket, "_sock", self._socket)
        raw.sendall(data)

    def poll(self) -> int | None:
        return self.container.exit_code()

    def wait(self, timeout_s: float) -> int | None:
        return self.container.wait(timeout_s)

    def stop(self) -> None:
        with self._lock:
            if self._socket is not None:
                with contextlib.suppress(OSError):
                    self._socket.close()
                self._socket = None
            self.container.remove()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None


class ImageLacksRuntime(SandboxUnavailable):
    """The image is here but cannot run the function's runtime: its interpreter for that Python is missing.

    Unlike an image that cannot be had, this is a wrong setting (an `--image` or target `image:` for another Python),
    so no fallback sandbox stands in for it: a lower-fidelity pass would hide the setting."""

    def __init__(self, image: str, python_version: str, detail: str) -> None:
        super().__init__(detail)
        self.image = image
        self.runtime = f"python{python_version}"
        self.runtime_image = DEFAULT_IMAGE.format(version=python_version)

    def plainly(self) -> str:
        return (f"image `{self.image}` cannot run the function's runtime {self.runtime}: {self.detail}; probe in the "
                f"runtime's image (--image {self.runtime_image}, or that as the target's `image:`), or drop --image "
                "and the target's `image:` to get it by default")


def connect(image: str, python_version: str, *, pull: bool = True) -> DockerSandbox:
    """A DockerSandbox for `image`, or SandboxUnavailable saying why Docker cannot be used (ImageLacksRuntime when
    the image is here but has no interpreter for `python_version`: checked once, before any probe runs in it)."""
    problem = engine_problem() or ensure_image(image, pull=pull)
    if problem:
        raise SandboxUnavailable(problem)
    sandbox = DockerSandbox(image, python_version)
    lacks = executable_problem(image, sandbox.python)
    if lacks:
        raise ImageLacksRuntime(image, python_version, lacks)
    return sandbox
