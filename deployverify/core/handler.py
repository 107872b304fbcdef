"""Handler strings, split exactly as the Lambda Python runtime does (awslambdaric bootstrap `_get_handler`).

The runtime splits at the last dot, turns `/` into `.` for the import, and reports
`Runtime.MalformedHandlerName` when there is no dot. Empty parts pass the runtime's split but can never resolve,
so they are rejected here too, as input errors.
"""

from __future__ import annotations

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


def parse_handler(raw: str) -> Handler:
    try:
        module_name, function = raw.rsplit(".", 1)
    except ValueError as exc:
        raise HandlerError(f"Runtime.MalformedHandlerName: Bad handler {raw!r}: {exc}; write MODULE.FUNCTION, "
                           "e.g. app.handler") from None
    if not module_name or not function:
        part = "module" if not module_name else "function"
        raise HandlerError(f"Runtime.MalformedHandlerName: Bad handler {raw!r}: the {part} name is empty; "
                           "write MODULE.FUNCTION, e.g. app.handler")
    if any(not segment for segment in module_name.replace("/", ".").split(".")):
        raise HandlerError(f"Runtime.MalformedHandlerName: Bad handler {raw!r}: empty segment in module "
                           f"{module_name!r}")
    return Handler(raw=raw, module_name=module_name, function=function)
