"""Where the function's runtime runs: a long-lived Lambda-image container, or a sandboxed host process as fallback.

Both start the runtime interface client against our Runtime API (`AWS_LAMBDA_RUNTIME_API`) with the bundle as the
task root and their stdout/stderr going into the stack's log pipe, and both can be killed, waited for and asked for
their peak memory. The container is the faithful one: the image's own entrypoint (`/lambda-entrypoint.sh <handler>`,
as in public.ecr.aws/lambda/python), host network (so 127.0.0.1 is moto and Postgres, as their endpoints say),
/var/task read-only, a writable /tmp, Lambda's uid 993 and the function's memory as the container's limit. Its
Docker calls go through deployverify/lambda_image/docker.py, the adapter the gate's probe sandbox uses as well.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from deployverify.core.errors import EnvironmentMissing
from deployverify.lambda_image.docker import TASK_ROOT, LambdaContainer, image_entrypoint, lambda_tmpfs
from deployverify.lambda_image.runtimes import RIC_MODULES, SDK_MODULES

IO_MOUNT = "/dv-io"
EPHEMERAL_STORAGE = "512m"
LABEL = "deployverify.local"


class Runtime(Protocol):
    kind: str
    ident: str

    def start(self) -> None: ...

    def wait(self) -> int:
        """Block until the runtime exits; its exit status."""
        ...

    def kill(self) -> None: ...

    def max_memory_mb(self) -> int | None: ...


class DockerRuntime:
    kind = "docker"

    def __init__(self, *, image: str, handler: str, env: dict[str, str], task_dir: Path, io_dir: Path,
                 memory_mb: int, name: str, labels: dict[str, str]) -> None:
        self.image = image
        self.handler = handler
        self.env = env
        self.task_dir = task_dir
        self.io_dir = io_dir
        self.memory_mb = memory_mb
        self.name = name
        self.labels = {LABEL: "1", **labels}
        self.ident = ""
        self._container: LambdaContainer | None = None

    def start(self) -> None:
        entrypoint = image_entrypoint(self.image)
        if not entrypoint:
            raise EnvironmentMissing(f"image {self.image} has no entrypoint; use a Lambda base image "
                                     "(its /lambda-entrypoint.sh starts the runtime)")
        # The shell only points stdout/stderr at the log pipe, then becomes the image's own entrypoint.
        wrapper = ["/bin/sh", "-c", f'exec >{IO_MOUNT}/stdout.pipe 2>&1; exec "$@"', "lambda-runtime", *entrypoint]
        self._container = LambdaContainer.create(
            self.image, argv=wrapper, command=[self.handler], env=self.env, network="host",
            tmpfs=lambda_tmpfs(EPHEMERAL_STORAGE),
            volumes={str(self.task_dir): {"bind": TASK_ROOT, "mode": "ro"},
                     str(self.io_dir): {"bind": IO_MOUNT, "mode": "rw"}},
            memory_mb=self.memory_mb, name=self.name, labels=self.labels, start=True)
        self.ident = self._container.id

    def wait(self) -> int:
        if self._container is None:
            return -1
        try:
            code = self._container.wait()
        except Exception:  # the engine went away: the runtime is as good as dead
            return -1
        return -1 if code is None else code

    def kill(self) -> None:
        if self._container is not None:
            self._container.remove()

    def max_memory_mb(self) -> int | None:
        return self._container.max_memory_mb() if self._container is not None else None


# --- sandbox fallback -------------------------------------------------------------------------------------------


def sandbox_runtime_dir(folder: Path) -> Path:
    """A folder with only the runtime-included SDK and the runtime interface client, linked from this interpreter,
    so the handler sees boto3 and awslambdaric as in Lambda but none of deployverify's other dependencies."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*SDK_MODULES, *RIC_MODULES, "runtime_client"):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            if name in ("awslambdaric", "runtime_client"):
                raise EnvironmentMissing("awslambdaric is not installed; pip install awslambdaric (the sandbox "
                                         "runs the function with it)")
            continue
        origin = Path(spec.origin)
        source = origin.parent if spec.submodule_search_locations else origin
        link = folder / source.name
        if not link.exists():
            link.symlink_to(source)
    return folder


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the runtime must not outlive a killed worker


# PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, and a runtime is often started from the thread
# of the batch that needed it; so every sandbox runtime is forked by this one thread, which lives as long as the worker.
_FORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-fork")


class SandboxRuntime:
    """The runtime as a host process: this interpreter, no site-packages, the bundle first on sys.path.

    Less faithful than the container (host glibc and Python, the bundle's real path instead of /var/task, no
    memory limit), and said so by `local status`; it keeps the demo working on a machine without Docker.
    """

    kind = "sandbox"

    def __init__(self, *, handler: str, env: dict[str, str], task_dir: Path, io_dir: Path, runtime_dir: Path) -> None:
        self.handler = handler
        self.task_dir = task_dir
        self.io_dir = io_dir
        self.env = {**env, "LAMBDA_TASK_ROOT": str(task_dir), "LAMBDA_RUNTIME_DIR": str(runtime_dir),
                    "PYTHONPATH": str(runtime_dir), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "LD_LIBRARY_PATH": f"{task_dir}:{task_dir}/lib"}
        self.ident = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = open(self.io_dir / "stdout.pipe", "wb", buffering=0)  # noqa: SIM115 - handed to the child
        try:
            self._proc = _FORKER.submit(
                subprocess.Popen, [sys.executable, "-S", "-m", "awslambdaric", self.handler], cwd=self.task_dir,
                env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent).result()
        finally:
            out.close()
        self.ident = f"pid {self._proc.pid}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def wait(self) -> int:
        return self._proc.wait() if self._proc else -1

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)

    def max_memory_mb(self) -> int | None:
        if self._proc is None:
            return None
        try:
            for line in Path(f"/proc/{self._proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return max(1, int(line.split()[1]) // 1024)
        except OSError:
            return None
        return None
