"""Background processes the local stack starts and must be able to stop from another process, even after a crash.

A process is recorded as (pid, start time): a pid alone may be reused by an unrelated process after a reboot or a
crash, and `down` must never signal a stranger.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    started: float  # /proc start time in clock ticks; 0 where /proc is unavailable

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "started": self.started}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> ProcessRef | None:
        return None if not raw else cls(int(raw["pid"]), float(raw.get("started", 0)))


def _start_time(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counts from after the command name, which may itself contain spaces and parentheses.
    return float(stat.rsplit(")", 1)[1].split()[19])


def ref_of(pid: int) -> ProcessRef:
    return ProcessRef(pid, _start_time(pid) or 0.0)


def alive(ref: ProcessRef | None) -> bool:
    if ref is None:
        return False
    started = _start_time(ref.pid)
    if started is None:
        return False
    if ref.started and started != ref.started:
        return False  # the pid was reused
    try:
        state = Path(f"/proc/{ref.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> ProcessRef:
    """Start a detached process (own session, so it outlives the CLI and a Ctrl-C in its terminal)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=cwd, start_new_session=True, close_fds=True)
    return ref_of(proc.pid)


def stop(ref: ProcessRef | None, *, grace_s: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after `grace_s`; True when the process is gone (or was already)."""
    if not alive(ref):
        return True
    assert ref is not None
    try:
        os.kill(ref.pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(ref.pid)
        if not alive(ref):
            return True
        time.sleep(0.05)
    try:
        os.kill(ref.pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    for _ in range(100):
        _reap(ref.pid)
        if not alive(ref):
            return True
        time.sleep(0.05)
    return not alive(ref)


def _reap(pid: int) -> None:
    # A child of this very process (tests start and stop in one process) stays a zombie until waited for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
