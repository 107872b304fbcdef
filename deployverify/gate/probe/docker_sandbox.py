"""The Lambda image through the Docker engine: the highest-fidelity sandbox, and the only adapter for docker.

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

TOOLS_MOUNT = "/var/deployverify"
LAMBDA_USER = "993:990"  # sbx_user1051, the user Lambda runs function code as
API_TIMEOUT_S = 60
PULL_TIMEOUT_S = 600


def _client(timeout_s: float = API_TIMEOUT_S) -> Any:
    import docker

    return docker.from_env(timeout=int(timeout_s))


def engine_problem() -> str | None:
    """None when the Docker engine answers; otherwise why not, in one line."""
    try:
        _client(10).ping()
    except Exception as exc:
        return f"the Docker engine is not reachable ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    return None


def ensure_image(image: str, *, pull: bool = True) -> str | None:
    """None when `image` is present (pulling it if needed and allowed); otherwise why it cannot be used."""
    import docker.errors

    client = _client()
    try:
        client.images.get(image)
        return None
    except docker.errors.ImageNotFound:
        if not pull:
            return f"image `{image}` is not present and pulling is off"
    except Exception as exc:
        return f"cannot inspect image `{image}`: {type(exc).__name__}: {exc}"
    try:
        _client(PULL_TIMEOUT_S).images.pull(image)
    except Exception as exc:
        first = str(exc).splitlines()[0][:240] if str(exc) else type(exc).__name__
        return f"image `{image}` is not present and cannot be pulled ({first})"
    return None


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
        return f"/var/lang/bin/python{self.python_version}"

    def _places(self) -> dict[str, str]:
        return {"python": self.python, "task": "/var/task", "opt": "/opt", "tools": TOOLS_MOUNT,
                "site": f"/var/lang/lib/python{self.python_version}/site-packages", "runtime": "/var/runtime"}

    def _create(self, spec: Spec, scratch: Path, *, detach_stdin: bool) -> Any:
        argv, env = fill_spec(spec, self._places())
        volumes = {str(spec.bundle.resolve()): {"bind": "/var/task", "mode": "ro"}}
        opt = merged_layers(spec.layers, scratch)
        if opt is not None:
            volumes[str(opt.resolve())] = {"bind": "/opt", "mode": "ro"}
        if spec.tools is not None:
            volumes[str(spec.tools.resolve())] = {"bind": TOOLS_MOUNT, "mode": "ro"}
        network: dict[str, Any] = ({"network_mode": "host"} if spec.network == "host"
                                   else {"network_disabled": True, "network_mode": "none"})
        return _client().containers.create(
            self.image, entrypoint=[argv[0]], command=argv[1:], environment=env, volumes=volumes,
            working_dir="/var/task", user=self.user, read_only=True,
            tmpfs={"/tmp": f"rw,exec,nosuid,size={spec.tmp_mb}m,mode=1777"},
            mem_limit=f"{spec.memory_mb}m", memswap_limit=f"{spec.memory_mb}m", pids_limit=4096,
            labels={"deployverify": spec.name}, name=f"{spec.name}-{secrets.token_hex(4)}",
            stdin_open=detach_stdin, detach=True, **network)

    def run(self, spec: Spec, timeout_s: float) -> Completed:
        import requests

        scratch = scratch_dir("docker")
        container = None
        started = time.perf_counter()
        try:
            container = self._create(spec, scratch, detach_stdin=False)
            container.start()
            timed_out = False
            try:
                code: int | None = int(container.wait(timeout=timeout_s)["StatusCode"])
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                timed_out, code = True, None
                container.kill()
            stdout = container.logs(stdout=True, stderr=False)
            stderr = container.logs(stdout=False, stderr=True)
            return Completed(code, stdout, stderr, time.perf_counter() - started, timed_out)
        finally:
            if container is not None:
                _remove(container)
            shutil.rmtree(scratch, ignore_errors=True)

    def start(self, spec: Spec) -> DockerRunning:
        scratch = scratch_dir("docker")
        container = None
        try:
            container = self._create(spec, scratch, detach_stdin=spec.stdin)
            container.start()
        except BaseException:
            if container is not None:
                _remove(container)
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return DockerRunning(container, scratch)


def _remove(container: Any) -> None:
    # Already gone (removed by a concurrent cleanup) is fine: the point is that it does not outlive the run.
    with contextlib.suppress(Exception):
        container.remove(force=True)


class DockerRunning:
    """A started container: its merged output as lines, its stdin (when started with stdin=True), stop = remove."""

    def __init__(self, container: Any, scratch: Path) -> None:
        self.container = container
        self._scratch: Path | None = scratch
        self._socket: Any = None
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return str(self.container.id)

    def lines(self) -> Iterator[str]:
        pending = b""
        for chunk in self.container.logs(stream=True, follow=True, stdout=True, stderr=True):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                yield raw.decode("utf-8", errors="replace")
        if pending:
            yield pending.decode("utf-8", errors="replace")

    def write(self, data: bytes) -> None:
        if self._socket is None:
            self._socket = self.container.attach_socket(params={"stdin": 1, "stream": 1})
        raw = getattr(self._socket, "_sock", self._socket)
        raw.sendall(data)

    def poll(self) -> int | None:
        self.container.reload()
        if self.container.status in ("exited", "dead"):
            return int(self.container.attrs["State"]["ExitCode"])
        return None

    def wait(self, timeout_s: float) -> int | None:
        import requests

        try:
            return int(self.container.wait(timeout=timeout_s)["StatusCode"])
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return None

    def stop(self) -> None:
        with self._lock:
            if self._socket is not None:
                with contextlib.suppress(OSError):
                    self._socket.close()
                self._socket = None
            _remove(self.container)
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None


def connect(image: str, python_version: str, *, pull: bool = True) -> DockerSandbox:
    """A DockerSandbox for `image`, or SandboxUnavailable saying why Docker cannot be used."""
    problem = engine_problem() or ensure_image(image, pull=pull)
    if problem:
        raise SandboxUnavailable(problem)
    return DockerSandbox(image, python_version)
