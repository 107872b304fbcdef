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

import importlib
import importlib.util
import json
import os
import resource
import site
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

MARK = "@@deployverify-probe-report@@"
PROBE_VERSION = 2
WORKERS_FILE = "in_sandbox_workers.py"  # copied beside this file into the sandbox


def _load_workers() -> Any:
    """in_sandbox_workers.py, loaded from beside this file: the sandbox runs `python -I` (no script folder on
    sys.path) and the package may not be installed there, so neither a plain nor a package import would find it."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), WORKERS_FILE)
    spec = importlib.util.spec_from_file_location("deployverify_probe_workers", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"the probe's {WORKERS_FILE} is missing beside {__file__}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from deployverify.gate.probe import in_sandbox_workers as probe_workers
else:
    probe_workers = _load_workers()


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
        result.update(probe_workers.describe(exc, roots))
        exception_type = getattr(exc, "exception_type", None)
        result["error_type"] = exception_type or type(exc).__name__
        result["message"] = getattr(exc, "msg", None) or probe_workers.text(exc)
    result["init_ms"] = round((time.perf_counter() - started) * 1000, 1)
    result["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["loaded"] = sorted(name for name in list(sys.modules) if isinstance(name, str))
    return result


def run_handler_child(handler: str, roots: list[str], timeout_s: float) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        probe_workers.cap_memory(probe_workers.memory_limit_mb)
        try:
            payload = json.dumps(resolve_handler(handler, roots))
        except BaseException as exc:
            payload = json.dumps({"handler": handler, "ok": False, "error_type": type(exc).__name__,
                                  "message": "probe failed: " + probe_workers.text(exc)})
        _write_all(write_fd, payload.encode())
        os._exit(0)
    os.close(write_fd)
    data, status, timed_out = probe_workers.collect_child(pid, read_fd, timeout_s)
    if data:
        try:
            parsed: dict[str, Any] = json.loads(data.decode())
            return parsed
        except ValueError:
            pass
    return {"handler": handler, "ok": False, "crashed": True,
            "error_type": "Runtime.ExitError" if not timed_out else "Sandbox.Timeout",
            "message": (f"init did not finish in {timeout_s:.0f}s" if timed_out
                        else "the process ended while importing the handler: " + probe_workers.status_text(status))}


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
    probe_workers.set_memory_limit(float(config.get("module_memory_mb", 0)))
    timeout = float(config.get("handler_timeout_s", 120))
    handlers = [run_handler_child(handler, roots, timeout) for handler in config.get("handlers", [])]
    report["handlers"] = handlers
    first_party_tops = {m["name"].split(".")[0] for m in modules if m.get("first_party")}
    report["warmed"] = warm_up(handlers, first_party_tops) if config.get("warm_up", True) else 0
    workers = int(config.get("workers") or os.cpu_count() or 1)
    results, loaded = probe_workers.import_all(probe_workers.plan_batches(modules, workers), roots, workers,
                                 float(config.get("module_timeout_s", 60)))
    report["modules"] = results
    report["first_party_loaded"] = loaded
    report["workers"] = workers
    report["seconds"] = round(time.perf_counter() - started, 3)
    _write_all(report_fd, ("\n" + MARK + json.dumps(report) + "\n").encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
