"""deployverify's import probe: runs inside the sandbox under the runtime's interpreter, standard library only.

    python -I -S -B probe.py CONFIG_JSON

1. Builds sys.path in Lambda's order (CONFIG path_front + the interpreter's stdlib + path_back) and runs
   site.addsitedir on the task root and layer folders, as Lambda's bootstrap does (their .pth files count).
2. In a forked child, resolves the handler exactly as the runtime does (awslambdaric's own `_get_handler` when the
   interpreter has it, a faithful copy otherwise), timing the import (cold-start init) and its peak RSS.
3. Imports every listed module in a few forked workers. Each worker announces a module before importing it, so a
   segfault, an os._exit or a hang (per-module timeout) costs that one module: the parent records it and starts a
   new worker for the rest of the batch.

Everything user code prints goes to stderr; the report is one JSON document on the original stdout, after MARK.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import select
import signal
import site
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

MARK = "@@deployverify-probe-report@@"
PROBE_VERSION = 2
_MESSAGE_LIMIT = 600
_FRAME_LIMIT = 30


class Fault(Exception):
    """The runtime's FaultException: an error type such as Runtime.ImportModuleError and its message."""

    def __init__(self, exception_type: str, msg: str, trace: list[str] | None = None) -> None:
        super().__init__(msg)
        self.exception_type = exception_type
        self.msg = msg
        self.trace = trace


def equivalent_get_handler(handler: str) -> Any:
    """awslambdaric.bootstrap._get_handler, line for line, for interpreters that do not have awslambdaric."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise Fault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {e!s}") from e
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise Fault("Runtime.BuiltInModuleConflict",
                        f"Cannot use built-in module {modname} as a handler module")
        m = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise Fault("Runtime.ImportModuleError", f"Unable to import module '{modname}': {e!s}") from e
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise Fault("Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {e!s}",
                    trace) from e
    try:
        request_handler = getattr(m, fname)
    except AttributeError as e:
        raise Fault("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'") from e
    return request_handler


def _runtime_get_handler() -> tuple[Callable[[str], Any], str]:
    """The runtime's own resolver when the image ships awslambdaric (imported before the timer, as Lambda does)."""
    try:
        from awslambdaric import bootstrap

        return bootstrap._get_handler, "awslambdaric " + _version("awslambdaric")
    except Exception:
        return equivalent_get_handler, "deployverify's copy of awslambdaric._get_handler"


def _version(dist: str) -> str:
    try:
        from importlib import metadata

        return metadata.version(dist)
    except Exception:
        return "?"


def _frames(tb: Any, roots: list[str]) -> list[list[Any]]:
    """Frames of a traceback in user-visible files (not the import machinery, not this probe)."""
    frames = []
    for entry in traceback.extract_tb(tb):
        name = entry.filename
        if name.startswith("<frozen") or name == __file__:
            continue
        frames.append([name, entry.lineno or 0, entry.name, (entry.line or "")[:200]])
    return frames[-_FRAME_LIMIT:]


def _syntax_frame(exc: BaseException) -> list[list[Any]]:
    if isinstance(exc, SyntaxError) and exc.filename:
        return [[exc.filename, exc.lineno or 0, "<module>", (exc.text or "").strip()[:200]]]
    return []


def _describe(exc: BaseException, roots: list[str]) -> dict[str, Any]:
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
        "message": _text(exc),
        "frames": frames,
    }
    if isinstance(cause, ImportError) and cause.name:
        data["missing"] = cause.name
    if cause is not exc:
        data["cause_type"] = type(cause).__name__
        data["cause_message"] = _text(cause)
    return data


def _text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = f"<unprintable {type(exc).__name__}>"
    return text[:_MESSAGE_LIMIT]


# -- the handler ----------------------------------------------------------------------------------------------------

def resolve_handler(handler: str, roots: list[str]) -> dict[str, Any]:
    get_handler, resolver = _runtime_get_handler()
    started = time.perf_counter()
    result: dict[str, Any] = {"handler": handler, "resolver": resolver}
    try:
        get_handler(handler)
        result["ok"] = True
    except BaseException as exc:  # the runtime turns anything raised at init into an init error
        result["ok"] = False
        result.update(_describe(exc, roots))
        exception_type = getattr(exc, "exception_type", None)
        result["error_type"] = exception_type or type(exc).__name__
        result["message"] = getattr(exc, "msg", None) or _text(exc)
    result["init_ms"] = round((time.perf_counter() - started) * 1000, 1)
    result["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["loaded"] = sorted(name for name in list(sys.modules) if isinstance(name, str))
    return result


def run_handler_child(handler: str, roots: list[str], timeout_s: float) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        cap_memory(_memory_limit_mb)
        try:
            payload = json.dumps(resolve_handler(handler, roots))
        except BaseException as exc:
            payload = json.dumps({"handler": handler, "ok": False, "error_type": type(exc).__name__,
                                  "message": "probe failed: " + _text(exc)})
        _write_all(write_fd, payload.encode())
        os._exit(0)
    os.close(write_fd)
    data, status, timed_out = _collect_child(pid, read_fd, timeout_s)
    if data:
        try:
            parsed: dict[str, Any] = json.loads(data.decode())
            return parsed
        except ValueError:
            pass
    return {"handler": handler, "ok": False, "crashed": True,
            "error_type": "Runtime.ExitError" if not timed_out else "Sandbox.Timeout",
            "message": (f"init did not finish in {timeout_s:.0f}s" if timed_out
                        else "the process ended while importing the handler: " + _status_text(status))}


def _collect_child(pid: int, fd: int, timeout_s: float) -> tuple[bytes, int, bool]:
    deadline = time.monotonic() + timeout_s
    chunks = []
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            _kill(pid)
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


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _status_text(status: int) -> str:
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


_memory_limit_mb = 0.0


def _import_one(name: str, roots: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        importlib.import_module(name)
        record: dict[str, Any] = {"ok": True}
    except MemoryError:
        record = {"ok": False, "error_type": "MemoryLimit", "frames": [],
                  "message": f"importing it allocated past the probe's {_memory_limit_mb:.0f} MB memory limit "
                             "(it allocates without bound at import time); the import was stopped there"}
    except BaseException as exc:  # SystemExit and friends at import time are failures of that module too
        record = {"ok": False}
        record.update(_describe(exc, roots))
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


class Worker:
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
            cap_memory(_memory_limit_mb)
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
    active: dict[int, Worker] = {}

    def spawn(batch: int, names: list[str], flag: bool) -> None:
        worker = Worker(batch, names, roots, flag)
        worker.started = time.monotonic()
        active[worker.fd] = worker

    def finish(worker: Worker, failure: str | None) -> None:
        os.close(worker.fd)
        del active[worker.fd]
        _, status = os.waitpid(worker.pid, 0)
        if worker.done:
            return
        rest = list(worker.pending)
        if worker.current is not None:
            failed = worker.current
            rest = [n for n in rest if n != failed]
            message = failure or ("the interpreter died while importing it: " + _status_text(status))
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
                _kill(worker.pid)
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


def warm_up(handler_records: list[dict[str, Any]], first_party_tops: set[str]) -> int:
    """Import, in this (parent) process, the third-party and standard modules the handler loaded without harm.

    Workers are forked from here, so they start with what every batch would otherwise import again (botocore,
    pydantic, ...): fork shares it copy-on-write. Only modules a child already imported successfully qualify, so
    the parent cannot crash on them; first-party modules stay out, so each is still imported inside a worker."""
    count = 0
    for record in handler_records:
        if not record.get("ok"):
            continue
        for name in record.get("loaded", []):
            if name in sys.modules or name.split(".")[0] in first_party_tops or name == "__main__":
                continue
            try:
                importlib.import_module(name)
                count += 1
            except BaseException:  # it imported in the child; if not here, the worker will report it
                sys.modules.pop(name, None)
    return count


# -- setup and main -------------------------------------------------------------------------------------------------

def setup_paths(config: dict[str, Any]) -> None:
    stdlib = [p for p in sys.path if p]
    sys.path[:] = list(config["path_front"]) + stdlib + list(config.get("path_back", []))
    for folder in config.get("site_dirs", []):
        site.addsitedir(folder)
    for key in config.get("unset_env", []):
        os.environ.pop(key, None)
    os.environ.update(config.get("set_env", {}))
    os.chdir(config["task_root"])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    config = json.loads(argv[1])
    if config.get("modules_file"):
        with open(config["modules_file"], encoding="utf-8") as handle:
            modules = json.load(handle)
    else:
        modules = config.get("modules", [])
    report_fd = os.dup(1)
    os.dup2(2, 1)  # user code that prints at import time must not corrupt the report
    sys.stdout = sys.stderr
    setup_paths(config)
    roots = list(config["path_front"])
    report: dict[str, Any] = {
        "probe_version": PROBE_VERSION,
        "python": ".".join(str(p) for p in sys.version_info[:3]),
        "executable": sys.executable,
        "sys_path": list(sys.path),
        "builtin_module_names": sorted(sys.builtin_module_names),
        "env_names": sorted(os.environ),
    }
    global _memory_limit_mb
    _memory_limit_mb = float(config.get("module_memory_mb", 0))
    timeout = float(config.get("handler_timeout_s", 120))
    handlers = [run_handler_child(handler, roots, timeout) for handler in config.get("handlers", [])]
    report["handlers"] = handlers
    first_party_tops = {m["name"].split(".")[0] for m in modules if m.get("first_party")}
    report["warmed"] = warm_up(handlers, first_party_tops) if config.get("warm_up", True) else 0
    workers = int(config.get("workers") or os.cpu_count() or 1)
    results, loaded = import_all(plan_batches(modules, workers), roots, workers,
                                 float(config.get("module_timeout_s", 60)))
    report["modules"] = results
    report["first_party_loaded"] = loaded
    report["workers"] = workers
    report["seconds"] = round(time.perf_counter() - started, 3)
    _write_all(report_fd, ("\n" + MARK + json.dumps(report) + "\n").encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
