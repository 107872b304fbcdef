"""DV210: the handler string as Lambda's runtime reads it, before anything is imported.

The runtime (awslambdaric `_get_handler`) splits at the last dot (Runtime.MalformedHandlerName without one) and
refuses a module whose first segment is built into the interpreter (Runtime.BuiltInModuleConflict): `import time`
returns CPython's `time`, never the bundle's time.py. The split itself is deployverify/core/handler.py's, the one
handler parser; this module adds only the built-in rule, and what a script handler run through an exec wrapper needs
(DV102/DV211 check it as a script instead of importing it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deployverify.core.handler import EXEC_WRAPPER, MalformedHandlerName, parse_handler

# Built into every CPython 3.8-3.14 Linux build the Lambda runtimes use (Modules/Setup.bootstrap); a distribution's
# build may add more (Debian builds `math`, `zlib`, ... in), which the in-image probe then reports itself.
BUILTIN_MODULES = frozenset({
    "_abc", "_codecs", "_collections", "_functools", "_imp", "_io", "_locale", "_operator", "_signal", "_sre",
    "_stat", "_string", "_symtable", "_thread", "_tracemalloc", "_warnings", "_weakref", "atexit", "builtins",
    "errno", "faulthandler", "gc", "itertools", "marshal", "posix", "pwd", "sys", "time", "xxsubtype",
})


@dataclass(frozen=True)
class HandlerStringProblem:
    error_type: str
    reason: str
    fix: str


def handler_string_problem(raw: str) -> HandlerStringProblem | None:
    """Why the runtime would refuse `raw` before importing anything, or None. The split is core/handler.py's."""
    try:
        handler = parse_handler(raw)
    except MalformedHandlerName as exc:
        return HandlerStringProblem(exc.error_type, exc.reason, exc.fix)
    top = handler.first_segment
    if top in BUILTIN_MODULES:
        return HandlerStringProblem(
            "Runtime.BuiltInModuleConflict", f"Cannot use built-in module {handler.module_name} as a handler module",
            f"rename {top}.py (e.g. {top}_handler.py) and set the handler to {top}_handler.{handler.function}")
    return None


# Public layers known to provide an exec wrapper at /opt/bootstrap (AWS Lambda Web Adapter, account 753240598075).
_WRAPPER_LAYER_NAMES = ("LambdaAdapterLayerX86", "LambdaAdapterLayerArm64")


def script_handler_problems(handler: str, environment: Mapping[str, str], bundle: Path,
                            layers: Sequence[Path] = (), remote_layers: Sequence[str] = ()) -> list[str]:
    """What stops Lambda from running a wrapper script handler (core/handler.py's is_wrapper_script): the script is
    missing or not executable, or no declared layer provides the exec wrapper. Empty when it would start."""
    problems = []
    script = bundle / handler
    if not script.is_file():
        problems.append(f"handler script `{handler}` is not in the bundle (looked for {script}); the exec wrapper "
                        "runs $LAMBDA_TASK_ROOT/$_HANDLER, so put the script at the bundle root")
    elif not script.stat().st_mode & 0o111:
        problems.append(f"handler script `{handler}` is not executable (mode {script.stat().st_mode & 0o777:o}); "
                        f"Lambda runs it directly: `chmod +x {handler}` in the source (git keeps the bit)")
    wrapper = environment.get(EXEC_WRAPPER, "")
    if wrapper.startswith("/opt/"):
        inside = wrapper.removeprefix("/opt/")
        provided = any((layer / inside).is_file() for layer in layers) or any(
            name in arn for arn in remote_layers for name in _WRAPPER_LAYER_NAMES)
        if not provided:
            declared = ", ".join([*(str(p) for p in layers), *remote_layers]) or "none"
            problems.append(f"{EXEC_WRAPPER}={wrapper} but no declared layer provides it (layers: {declared}); "
                            "declare the wrapper's layer for this function, e.g. the Lambda Web Adapter "
                            "(arn:aws:lambda:<region>:753240598075:layer:LambdaAdapterLayerX86:<version>)")
    elif wrapper.startswith("/var/task/") and not (bundle / wrapper.removeprefix("/var/task/")).is_file():
        problems.append(f"{EXEC_WRAPPER}={wrapper} is not in the bundle")
    return problems
