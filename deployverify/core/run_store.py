"""State one run shares between its processes (pytest-xdist workers): computed-once results and who is still working.

Everything lives in `<cache>/runs/<run-id>/`. `once(name, compute)` runs `compute` in exactly one process and hands
its JSON result to every other (they wait on a file lock). Participation is a shared `flock` that each process
holds while it may still create or use something of the run; the process that can turn it into an exclusive lock
on leaving is the last one, and it alone removes what is shared (the test user, leftovers of crashed processes).
Locks die with their process, so a crashed worker never blocks the cleanup.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from deployverify.core.errors import DeployVerifyError
from deployverify.core.run_ids import cache_dir
from deployverify.core.waits import wait_for

KEEP_S = 24 * 3600  # finished runs' folders are pruned after a day; they only hold small JSON files
ONCE_TIMEOUT_S = 3600.0  # one document's trip is bounded by the target's timeout; this only guards against a hang
JOIN_TIMEOUT_S = 600.0  # the last process's cleanup waits at most a minute for the queues, the rest is quick


class RunStoreError(DeployVerifyError):
    """The run's shared state is held by a process that does not let go."""


def runs_root() -> Path:
    return cache_dir() / "runs"


class RunStore:
    def __init__(self, run_id: str, root: Path | None = None) -> None:
        self.run_id = run_id
        self.dir = (root or runs_root()) / run_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self._participation: int | None = None

    def path(self, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.dir / f"{safe}.json"

    def read(self, name: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.path(name).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return data

    def write(self, name: str, data: dict[str, Any]) -> None:
        path = self.path(name)
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        partial.replace(path)

    def once(self, name: str, compute: Callable[[], dict[str, Any]], *, timeout_s: float = ONCE_TIMEOUT_S) -> \
            dict[str, Any]:
        """The result of `compute`, computed by whichever process asks first; the others wait (at most
        `timeout_s`, which must cover the computation) and read it."""
        found = self.read(name)
        if found is not None:
            return found
        lock = FileLock(str(self.path(name).with_suffix(".lock")))
        try:
            lock.acquire(timeout=timeout_s)
        except Timeout:
            raise RunStoreError(f"another process of run {self.run_id} held `{name}` for over {timeout_s:.0f}s; "
                                "it is stuck or was stopped: look for a hung deployverify process",
                                where=str(self.dir)) from None
        try:
            return self._read_or_compute(name, compute)
        finally:
            lock.release()

    def try_once(self, name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """Like `once`, but None at once when another process is computing it (the caller can do other work)."""
        found = self.read(name)
        if found is not None:
            return found
        lock = FileLock(str(self.path(name).with_suffix(".lock")))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return None
        try:
            return self._read_or_compute(name, compute)
        finally:
            lock.release()

    def _read_or_compute(self, name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Under the name's lock: another process may have finished while this one waited for it."""
        found = self.read(name)
        if found is None:
            found = compute()
            self.write(name, found)
        return found

    def names(self, prefix: str) -> list[str]:
        return sorted(p.stem for p in self.dir.glob(f"{prefix}*.json"))

    # -- participation ----------------------------------------------------------------------------------------------
    def join(self, timeout_s: float = JOIN_TIMEOUT_S) -> None:
        """Say this process may use the run's shared things; waits while the last process is removing them."""
        if self._participation is not None:
            return
        fd = os.open(self.dir / "participants.lock", os.O_RDWR | os.O_CREAT, 0o644)

        def shared() -> tuple[bool, None]:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return False, None
            return True, None

        if not wait_for(f"another process of run {self.run_id} to finish removing what the run made", timeout_s,
                        shared, announce=False).done:
            os.close(fd)
            raise RunStoreError(f"the run's cleanup did not finish within {timeout_s:.0f}s", where=str(self.dir))
        self._participation = fd

    def leave(self, last: Callable[[], None]) -> bool:
        """Stop participating; if no other process participates, run `last` (holding the lock) and return True."""
        fd = self._participation
        if fd is None:
            return False
        self._participation = None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            last()
            return True
        finally:
            os.close(fd)


def prune(root: Path | None = None, keep_s: float = KEEP_S) -> None:
    base = root or runs_root()
    if not base.is_dir():
        return
    now = time.time()
    for folder in base.iterdir():
        try:
            if folder.is_dir() and now - folder.stat().st_mtime > keep_s:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue
