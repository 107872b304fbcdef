"""The function's stdout and stderr, read through a named pipe the runtime writes into.

The runtime (in its container or sandbox) writes straight into a FIFO on the host, so a line is readable here the
moment the function wrote it: when the runtime then posts its response, everything it printed before is already in
the pipe, and draining the pipe at that point puts every line of an invocation before its END, without guessing.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable
from pathlib import Path

FIFO_NAME = "stdout.pipe"


class OutputPipe:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / FIFO_NAME
        if self.path.exists():
            self.path.unlink()
        os.mkfifo(self.path)
        os.chmod(self.path, 0o666)  # noqa: S103 - the container's user (Lambda's uid 993) writes into it
        self._read_fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        # Held open so the pipe never reports end-of-file between one runtime's exit and the next one's start.
        self._keep_fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        self._partial = b""
        self._closed = False

    def drain(self) -> list[str]:
        """Every complete line available now (without its newline). Never blocks."""
        data = bytearray()
        while True:
            try:
                chunk = os.read(self._read_fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        if not data:
            return []
        text = self._partial + bytes(data)
        *lines, self._partial = text.split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in lines]

    def rest(self) -> list[str]:
        """The unterminated tail (a runtime that died mid-line)."""
        tail, self._partial = self._partial, b""
        return [tail.decode("utf-8", errors="replace")] if tail else []

    def wait_readable(self, timeout_s: float) -> bool:
        if self._closed:
            return False
        try:
            ready, _, _ = select.select([self._read_fd], [], [], timeout_s)
        except (OSError, ValueError):
            return False
        return bool(ready)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for fd in (self._read_fd, self._keep_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            self.path.unlink()


class Pump:
    """Moves lines from the pipe to `emit` in the background; `drain_now` does it synchronously under the same lock."""

    def __init__(self, pipe: OutputPipe, emit: Callable[[list[str]], None], lock: threading.RLock) -> None:
        self.pipe = pipe
        self.emit = emit
        self.lock = lock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-pump", daemon=True)

    def start(self) -> Pump:
        self._thread.start()
        return self

    def drain_now(self, *, include_partial: bool = False) -> None:
        with self.lock:
            lines = self.pipe.drain()
            if include_partial:
                lines += self.pipe.rest()
            if lines:
                self.emit(lines)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.pipe.wait_readable(0.2):
                self.drain_now()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.drain_now(include_partial=True)
