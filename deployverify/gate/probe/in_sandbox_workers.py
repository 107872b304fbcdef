"""The import probe's forked workers and its error descriptions: the half of in_sandbox.py that imports modules.

Runs in the sandbox beside in_sandbox.py (run_probe.py copies both into the probe's tools folder), standard library
only; in_sandbox.py loads it by file path, so nothing is added to sys.path ahead of the bundle's own modules.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import select
import signal
import sys
import time
import traceback
from typing import Any

_MESSAGE_LIMIT = 600
_FRAME_LIMIT = 30
_PROBE_FOLDER = os.path.dirname(os.path.abspath(__file__))  # frames in the probe's files are not the user's
# botocore's errors for a call that could not reach AWS or sign its request. The gate's probe has no network, so a
# module that calls AWS while it is imported raises one of these where Lambda would have made the call.
_AWS_UNREACHABLE = frozenset({"EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError",
                              "ReadTimeoutError", "ProxyConnectionError", "NoCredentialsError", "NoRegionError",
                              "CredentialRetrievalError"})


def _frames(tb: Any, roots: list[str]) -> list[list[Any]]:
    """Frames of a traceback in user-visible files (not the import machinery, not the probe's own files)."""
    frames = []
    for entry in traceback.extract_tb(tb):
        name = entry.filename
        if name.startswith("<frozen") or os.path.dirname(os.path.abspath(name)) == _PROBE_FOLDER:
            continue
        frames.append([name, entry.lineno or 0, entry.name, (entry.line or "")[:200]])
    return frames[-_FRAME_LIMIT:]


def _syntax_frame(exc: BaseException) -> list[list[Any]]:
    if isinstance(exc, SyntaxError) and exc.filename:
        return [[exc.filename, exc.lineno or 0, "<module>", (exc.text or "").strip()[:200]]]
    return []


def _aws_unreachable(exc: BaseException) -> BaseException | None:
    """The botocore error in an exception's chain that says AWS was not reached, if there is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for klass in type(current).__mro__:
            if klass.__module__.startswith("botocore") and klass.__name__ in _AWS_UNREACHABLE:
                return current
        current = current.__cause__ or current.__context__
    return None


def describe(exc: BaseException, roots: list[str]) -> dict[str, Any]:
    """Type, message, the missing module's name and the frames of an exception raised while importing."""
    cause = exc
    # The runtime's FaultException (awslambdaric's or Fault) wraps the real error as its cause or context.
    while hasattr(cause, "exception_type"):
        inner = cause.__cause__ or cause.__context__
        if inner is None:
            break
        cause = inner
    frames = _frames(cause.__traceback__, roots) + _syntax_frame(cause)
    data = {
        "error_type": type(exc).__name__,
        "message": text(exc),
        "frames": frames,
    }
    if isinstance(cause, ImportError) and cause.name:
        data["missing"] = cause.name
    if cause is not exc:
        data["cause_type"] = type(cause).__name__
        data["cause_message"] = text(cause)
    unreachable = _aws_unreachable(exc)
    if unreachable is not None:
        data["needs_aws"] = f"{type(unreachable).__name__}: {text(unreachable)}"
        if unreachable is not cause:
            data["frames"] = _frames(unreachable.__traceback__, roots) or frames
    return data


def text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = f"<unprintable {type(exc).__name__}>"
    return text[:_MESSAGE_LIMIT]


def collect_child(pid: int, fd: int, timeout_s: float) -> tuple[bytes, int, bool]:
    deadline = time.monotonic() + timeout_s
    chunks = []
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            kill(pid)
            break
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks), status, timed_out


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return f"killed by signal {name}"
    return f"exited with status {os.WEXITSTATUS(status) if os.WIFEXITED(status) else status}"


# -- every module ---------------------------------------------------------------------------------------------------

def cap_memory(limit_mb: float) -> None:
    """Cap this forked process's address space at what it has mapped now plus `limit_mb`: a module that allocates
    without bound gets MemoryError at the cap instead of taking the sandbox (or, under bubblewrap, the host) down.
    Relative to the current size, because the parent's warmed third-party imports are already mapped."""
    if limit_mb <= 0:
        return
    mapped = 0
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmSize:"):
                mapped = int(line.split()[1]) * 1024
    cap = mapped + int(limit_mb * 1024 * 1024)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


# Set once by the probe's main from its config (module_memory_mb); every forked child caps itself with it.
memory_limit_mb = 0.0


def set_memory_limit(limit_mb: float) -> None:
    global memory_limit_mb
    memory_limit_mb = limit_mb


def _import_one(name: str, roots: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        importlib.import_module(name)
        record: dict[str, Any] = {"ok": True}
    except MemoryError:
        record = {"ok": False, "error_type": "MemoryLimit", "frames": [],
                  "message": f"importing it allocated past the probe's {memory_limit_mb:.0f} MB memory limit "
                             "(it allocates without bound at import time); the import was stopped there"}
    except BaseException as exc:  # SystemExit and friends at import time are failures of that module too
        record = {"ok": False}
        record.update(describe(exc, roots))
    record["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return record


def worker_main(names: list[str], write_fd: int, roots: list[str], report_loaded: bool) -> None:
    out = os.fdopen(write_fd, "w", buffering=1, encoding="utf-8")
    for name in names:
        out.write("S " + name + "\n")
        record = _import_one(name, roots)
        out.write("R " + json.dumps([name, record]) + "\n")
    if report_loaded:
        out.write("L " + json.dumps(sorted(n for n in list(sys.modules) if isinstance(n, str))) + "\n")
    out.write("D\n")
    out.flush()
    os._exit(0)


class ModuleImportWorker:
    """One forked child importing a batch of first-party modules, reporting each outcome through its pipe."""

    def __init__(self, batch: int, names: list[str], roots: list[str], report_loaded: bool) -> None:
        self.batch = batch
        self.pending = list(names)
        self.current: str | None = None
        self.started = 0.0
        self.buffer = b""
        self.done = False
        self.report_loaded = report_loaded
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            cap_memory(memory_limit_mb)
            worker_main(list(names), write_fd, roots, report_loaded)
        os.close(write_fd)
        self.pid = pid
        self.fd = read_fd


def import_all(batches: list[tuple[list[str], bool]], roots: list[str], workers: int,
               module_timeout_s: float) -> tuple[dict[str, Any], list[str]]:
    """batches: list of (name list, report_loaded). Returns per-module results and modules loaded by flagged batches."""
    results: dict[str, Any] = {}
    loaded: set[str] = set()
    queue = [(i, names, flag) for i, (names, flag) in enumerate(batches) if names]
    active: dict[int, ModuleImportWorker] = {}

    def spawn(batch: int, names: list[str], flag: bool) -> None:
        worker = ModuleImportWorker(batch, names, roots, flag)
        worker.started = time.monotonic()
        active[worker.fd] = worker

    def finish(worker: ModuleImportWorker, failure: str | None) -> None:
        os.close(worker.fd)
        del active[worker.fd]
        _, status = os.waitpid(worker.pid, 0)
        if worker.done:
            return
        rest = list(worker.pending)
        if worker.current is not None:
            failed = worker.current
            rest = [n for n in rest if n != failed]
            message = failure or ("the interpreter died while importing it: " + status_text(status))
            if not failure and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                message += " (the sandbox's memory limit, or a kill from outside)"
            results[failed] = {"ok": False, "error_type": "Timeout" if failure else "Crash", "message": message,
                               "frames": [], "ms": round((time.monotonic() - worker.started) * 1000, 1)}
        if rest:
            queue.insert(0, (worker.batch, rest, worker.report_loaded))

    while queue or active:
        while queue and len(active) < workers:
            spawn(*queue.pop(0))
        ready, _, _ = select.select(list(active), [], [], 0.5)
        for fd in ready:
            worker = active[fd]
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                finish(worker, None)
                continue
            worker.buffer += chunk
            *lines, worker.buffer = worker.buffer.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", errors="replace")
                if line.startswith("S "):
                    worker.current = line[2:]
                    worker.started = time.monotonic()
                elif line.startswith("R "):
                    name, record = json.loads(line[2:])
                    results[name] = record
                    worker.current = None
                    if worker.pending and worker.pending[0] == name:
                        worker.pending.pop(0)
                    else:
                        worker.pending = [n for n in worker.pending if n != name]
                elif line.startswith("L "):
                    loaded.update(json.loads(line[2:]))
                elif line == "D":
                    worker.done = True
        now = time.monotonic()
        for worker in list(active.values()):
            if worker.current is not None and now - worker.started > module_timeout_s:
                kill(worker.pid)
                finish(worker, f"importing it did not finish in {module_timeout_s:.0f}s (it hangs at import time)")
    return results, sorted(loaded)


def plan_batches(modules: list[dict[str, Any]], workers: int) -> list[tuple[list[str], bool]]:
    """First-party modules in one batch (it reports what they load); third-party ones grouped by top-level package
    (a package is imported once per worker) and balanced across the workers by module count."""
    first = [m["name"] for m in modules if m.get("first_party")]
    groups: dict[str, list[str]] = {}
    for m in modules:
        if not m.get("first_party"):
            groups.setdefault(m["name"].split(".")[0], []).append(m["name"])
    bins: list[list[str]] = [[] for _ in range(max(1, workers))]
    for top in sorted(groups, key=lambda t: -len(groups[t])):
        smallest = min(bins, key=len)
        smallest.extend(groups[top])
    # A crash costs one module: the worker is restarted for the rest of its batch, so one batch per worker suffices.
    return [(first, True), *((names, False) for names in bins)]
