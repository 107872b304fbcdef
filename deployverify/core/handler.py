"""Handler strings, split exactly as the Lambda Python runtime does (awslambdaric bootstrap `_get_handler`).

The runtime splits at the last dot, turns `/` into `.` for the import, and reports
`Runtime.MalformedHandlerName` when there is no dot. Empty parts pass the runtime's split but can never resolve,
so they are rejected here too, as input errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from deployverify.core.errors import HandlerError


@dataclass(frozen=True)
class Handler:
    raw: str
    module_name: str  # as written, before `/` becomes `.` (what the runtime quotes in its errors)
    function: str

    @property
    def import_name(self) -> str:
        return self.module_name.replace("/", ".")

    @property
    def first_segment(self) -> str:
        return self.module_name.split(".")[0]

    def candidate_files(self) -> tuple[PurePosixPath, PurePosixPath]:
        """The two files that can provide the module, relative to /var/task: `a/b.py` or `a/b/__init__.py`."""
        base = PurePosixPath(*self.import_name.split("."))
        return base.with_suffix(".py"), base / "__init__.py"


class MalformedHandlerName(HandlerError):
    """The runtime's Runtime.MalformedHandlerName, with the reason and the fix kept apart so a check can quote them."""

    error_type = "Runtime.MalformedHandlerName"

    def __init__(self, raw: str, reason: str) -> None:
        self.reason = f"Bad handler {raw!r}: {reason}"
        self.fix = "write MODULE.FUNCTION, e.g. app.handler"
        super().__init__(f"{self.error_type}: {self.reason}; {self.fix}")


def parse_handler(raw: str) -> Handler:
    """The one handler parser: the target loader, the scan and the gate's DV210 all split handlers here."""
    module_name, dot, function = raw.rpartition(".")
    if not dot:
        raise MalformedHandlerName(raw, "no dot")
    if not module_name or not function:
        part = "module" if not module_name else "function"
        raise MalformedHandlerName(raw, f"the {part} name is empty")
    if any(not segment for segment in module_name.replace("/", ".").split(".")):
        raise MalformedHandlerName(raw, f"empty segment in module {module_name!r}")
    return Handler(raw=raw, module_name=module_name, function=function)


EXEC_WRAPPER = "AWS_LAMBDA_EXEC_WRAPPER"
_SCRIPT_SUFFIXES = (".sh", ".bash")


def is_wrapper_script(raw: str, environment: Mapping[str, str]) -> bool:
    """A handler Lambda runs as a script, not MODULE.FUNCTION: the function sets AWS_LAMBDA_EXEC_WRAPPER (the Lambda
    Web Adapter's /opt/bootstrap and the like, which start `$LAMBDA_TASK_ROOT/$_HANDLER` instead of the Python
    runtime) and the handler names a shell script (`run.sh`)."""
    return bool(environment.get(EXEC_WRAPPER)) and raw.endswith(_SCRIPT_SUFFIXES)
