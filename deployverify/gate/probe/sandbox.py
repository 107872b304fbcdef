"""What every sandbox offers: run a command to completion, or start a long-lived one, with Lambda's file layout.

A `Spec` says what to run in Lambda's terms; each sandbox maps it to its own mechanism. Commands and environment
values may use placeholders the sandbox fills in, because paths differ between sandboxes:
    {python}  the runtime's interpreter          {task}   the bundle (/var/task where the sandbox can)
    {opt}     the merged layers (/opt)            {tools}  the read-only folder `Spec.tools` (e.g. the probe)
    {site}    the interpreter's site-packages     {runtime} LAMBDA_RUNTIME_DIR (/var/runtime)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from deployverify.core.errors import EnvironmentMissing


class SandboxUnavailable(EnvironmentMissing):
    """This kind of sandbox cannot run here (no engine, no image, no bwrap, wrong interpreter version)."""


@dataclass(frozen=True)
class Spec:
    argv: tuple[str, ...]
    bundle: Path
    layers: tuple[Path, ...] = ()
    tools: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    network: str = "none"           # "none" for the gate; "host" lets a process reach a server on loopback
    memory_mb: int = 1024
    tmp_mb: int = 512               # Lambda's default ephemeral storage
    stdin: bool = False             # `start` only: keep a pipe to the process's standard input
    name: str = "deployverify"      # tag: container names, labels

    def __post_init__(self) -> None:
        if self.network not in ("none", "host"):
            raise ValueError(f"network must be 'none' or 'host', not {self.network!r}")


@dataclass(frozen=True)
class Completed:
    code: int | None                # None: killed at the timeout
    stdout: bytes
    stderr: bytes
    seconds: float
    timed_out: bool = False


class Running(Protocol):
    """A started process: read its output, feed its input, stop it. `stop` is idempotent and always cleans up."""

    def lines(self) -> Iterator[str]: ...

    def write(self, data: bytes) -> None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout_s: float) -> int | None: ...

    def stop(self) -> None: ...


class Sandbox(Protocol):
    kind: str          # "docker", "bubblewrap" or "plain"
    fidelity: str      # one line: how close this is to Lambda

    def describe(self) -> str: ...

    def run(self, spec: Spec, timeout_s: float) -> Completed: ...

    def start(self, spec: Spec) -> Running: ...


def fill(template: str, places: Mapping[str, str]) -> str:
    for key, value in places.items():
        template = template.replace("{" + key + "}", value)
    return template


def fill_spec(spec: Spec, places: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    return [fill(a, places) for a in spec.argv], {k: fill(v, places) for k, v in spec.env.items()}


def merged_layers(layers: tuple[Path, ...], scratch: Path) -> Path | None:
    """Lambda extracts layers into /opt in order, later ones overwriting; one layer is used as it is."""
    if not layers:
        return None
    if len(layers) == 1:
        return layers[0]
    merged = scratch / "opt"
    for layer in layers:
        shutil.copytree(layer, merged, dirs_exist_ok=True, symlinks=True)
    return merged


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"dv-{prefix}-"))


# -- the one adapter for programs run as host processes (bwrap, python) --------------------------------------------

def run_process(argv: list[str], *, env: Mapping[str, str] | None, cwd: Path | None, timeout_s: float) -> Completed:
    """Run to completion; at the timeout kill the whole process group, return what was printed so far."""
    import time

    started = time.perf_counter()
    with subprocess.Popen(argv, env=dict(env) if env is not None else None, cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True) as process:
        try:
            out, err = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            out, err = process.communicate()
            return Completed(None, out, err, time.perf_counter() - started, timed_out=True)
    return Completed(process.returncode, out, err, time.perf_counter() - started)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class ProcessRunning:
    """A long-lived host process (bwrap or plain python): merged stdout+stderr as lines, optional stdin."""

    def __init__(self, argv: list[str], *, env: Mapping[str, str] | None, cwd: Path | None, stdin: bool,
                 cleanup: Path | None = None) -> None:
        self._cleanup = cleanup
        self._process = subprocess.Popen(argv, env=dict(env) if env is not None else None, cwd=cwd,
                                         stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self._process.pid

    def lines(self) -> Iterator[str]:
        stream: IO[bytes] | None = self._process.stdout
        if stream is None:
            return
        for raw in stream:
            yield raw.decode("utf-8", errors="replace").rstrip("\n")

    def write(self, data: bytes) -> None:
        if self._process.stdin is None:
            raise RuntimeError("started without stdin=True")
        self._process.stdin.write(data)
        self._process.stdin.flush()

    def poll(self) -> int | None:
        return self._process.poll()

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        with self._lock:
            if self._process.poll() is None:
                _kill_group(self._process)
                self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
            if self._cleanup is not None:
                shutil.rmtree(self._cleanup, ignore_errors=True)
                self._cleanup = None
