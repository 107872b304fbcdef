"""DV210: the handler string as Lambda's runtime reads it, before anything is imported.

The runtime (awslambdaric `_get_handler`) splits at the last dot (Runtime.MalformedHandlerName without one) and
refuses a module whose first segment is built into the interpreter (Runtime.BuiltInModuleConflict): `import time`
returns CPython's `time`, never the bundle's time.py. The split itself is deployverify/core/handler.py's, the one
handler parser; this module adds only the built-in rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from deployverify.core.handler import MalformedHandlerName, parse_handler

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
