"""DV222: every import in the bundle's first-party code resolves, statically, against what Lambda will have.

Lambda finds a module in the bundle (/var/task), then the layers (/opt/python...), then the runtime's standard
library and its preinstalled packages (boto3 and friends). An import that resolves in none of them fails with
`No module named ...` the moment it runs, which for an import inside a function is long after deploy.

What is not a failure: imports guarded by `try/except ImportError` (or `ModuleNotFoundError`, or a bare `except`),
the fallback import in such an `except` when the `try`'s imports resolve (it never runs then), imports in either
branch of an `if` that asks `importlib.util.find_spec(...)`, imports under `if TYPE_CHECKING:`, and imports in a
branch of `if sys.version_info ...`/`if sys.platform ...` that does not run on the runtime. `from pkg import
name` needs only `pkg`: `name` may be an attribute. Below a third-party or standard-library top-level name only
namespace packages are followed, since modules such as `six` add submodules at run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from deployverify.core import registry
from deployverify.core.errors import HandlerError
from deployverify.core.handler import parse_handler
from deployverify.core.results import Finding, Severity
from deployverify.gate.probe.imports import BundleIndex, ImportRef, ModuleInfo
from deployverify.gate.probe.interpreter_tests import runs_on
from deployverify.gate.probe.stdlib import addition, removal, stdlib_names


@dataclass(frozen=True)
class MissingImport:
    importer: ModuleInfo
    ref: ImportRef
    missing: str  # the first dotted prefix that resolves nowhere: `shared.storage` for shared.storage.s3_service
    reason: str  # "" for plain absence; otherwise what makes it fail (not a package, removed from stdlib...)

    def statement(self) -> str:
        if self.ref.names:
            return f"from {self.ref.module} import {', '.join(self.ref.names)}"
        return f"import {self.ref.module}"


def _is_namespace(info: ModuleInfo) -> bool:
    # BundleIndex stands a folder without __init__.py in for its namespace package: its path is the folder.
    return info.is_package and info.path.name != "__init__.py"


def find_missing(name: str, index: BundleIndex, stdlib: frozenset[str],
                 preinstalled: frozenset[str]) -> tuple[str, str] | None:
    """(first missing dotted prefix, reason) for the module `name`, or None when it resolves."""
    parts = name.split(".")
    top = index.resolve(parts[0])
    if top is None:
        if parts[0] in stdlib or parts[0] in preinstalled:
            return None
        return parts[0], ""
    parent = top
    for depth in range(2, len(parts) + 1):
        prefix = ".".join(parts[:depth])
        info = index.resolve(prefix)
        if info is not None:
            parent = info
            continue
        if not parent.is_package:
            if parent.first_party:
                return prefix, f"`{parent.name}` is a module ({parent.path.name}), not a package"
            return None  # `six.moves`: a third-party module may create submodules when it runs
        if parent.first_party or _is_namespace(parent):
            return prefix, ""
        return None  # inside a third-party package: trust it, the probe (DV221) imports it for real
    return None


def _expected_absent(ref: ImportRef, index: BundleIndex, stdlib: frozenset[str], available: frozenset[str],
                     python: tuple[int, int]) -> bool:
    """The code runs without this import: it is guarded, typing-only, for another interpreter, or a fallback whose
    preferred alternatives all resolve."""
    if ref.guarded or ref.type_checking or not runs_on(ref.conditions, python):
        return True
    return bool(ref.alternatives) and all(find_missing(a, index, stdlib, available) is None for a in ref.alternatives)


def guarded_missing(index: BundleIndex, python: tuple[int, int], preinstalled: Iterable[str]) -> list[str]:
    """`file:line module` of each guarded import whose module is absent: evidence, not a failure."""
    stdlib, available = stdlib_names(python), frozenset(preinstalled)
    found = []
    for _, ref in index.first_party_imports():
        if ref.type_checking or ref.beyond_top or not _expected_absent(ref, index, stdlib, available, python):
            continue
        if find_missing(ref.module, index, stdlib, available) is not None:
            path = ref.path.relative_to(index.root).as_posix() if ref.path.is_relative_to(index.root) else ref.path
            found.append(f"{path}:{ref.line} {ref.module}")
    return found


def unresolved_imports(index: BundleIndex, python: tuple[int, int],
                       preinstalled: Iterable[str]) -> list[MissingImport]:
    stdlib = stdlib_names(python)
    available = frozenset(preinstalled)
    missing: list[MissingImport] = []
    for module, ref in index.first_party_imports():
        if _expected_absent(ref, index, stdlib, available, python):
            continue
        if ref.beyond_top:
            missing.append(MissingImport(module, ref, ref.module, "a relative import beyond the top-level package "
                                         f"(`{module.name}` is not inside a package that deep)"))
            continue
        found = find_missing(ref.module, index, stdlib, available)
        if found is not None:
            missing.append(MissingImport(module, ref, *found))
    return sorted(missing, key=lambda m: (str(m.ref.path), m.ref.line))


def _where(index: BundleIndex, item: MissingImport) -> str:
    try:
        path = item.ref.path.relative_to(index.root).as_posix()
    except ValueError:
        path = str(item.ref.path)
    lazy = ", inside a function: it fails only when that code runs" if item.ref.in_function else ""
    return f"{path}:{item.ref.line} (`{item.statement()}`{lazy})"


def _without_restatement(module: str, suggestion: str) -> str:
    """The message already says the module is missing; keep only what the suggestion adds."""
    return re.sub(rf"^`{re.escape(module)}` is not in the bundle[^;:]*[;:]\s*", "", suggestion)


def fix_for(item: MissingImport, index: BundleIndex, python: tuple[int, int], source_roots: tuple[Path, ...],
            architecture: str = "x86_64", display_base: Path | None = None) -> str:
    top = item.missing.split(".")[0]
    known = removal(top, python) or addition(top, python)
    if known:
        return known
    if item.reason.startswith("a relative import"):
        return f"it is {item.reason}: import it absolutely from the bundle root"
    from deployverify.gate.probe.suggest import suggest_for_missing

    suggestion = suggest_for_missing(item.missing, item.ref.path, index, source_roots, line=item.ref.line,
                                     python=f"{python[0]}.{python[1]}", architecture=architecture,
                                     display_base=display_base)
    suggestion = _without_restatement(item.missing, suggestion)
    return f"{item.reason}; {suggestion}" if item.reason else suggestion


def handler_modules(handlers: Iterable[str]) -> list[str]:
    """The modules the handler strings name (a malformed one is DV210's to report, not a module here)."""
    names = []
    for raw in handlers:
        try:
            names.append(parse_handler(raw).import_name)
        except HandlerError:
            continue
    return names


def closure_findings(index: BundleIndex, python: tuple[int, int], preinstalled: Iterable[str],
                     source_roots: tuple[Path, ...] = (), architecture: str = "x86_64",
                     display_base: Path | None = None, reached: set[str] | None = None) -> list[Finding]:
    """One DV222 finding per unresolved import; `display_base` is where source paths in suggestions are shown
    relative to (the target file's folder). With `reached` (the first-party modules the handlers reach), an import in
    a module outside it is a warning: like unreached third-party code, it fails only if something runs it."""
    findings = []
    for item in unresolved_imports(index, python, preinstalled):
        where = _where(index, item)
        message = registry.message("DV222", module=item.missing, where=where,
                                   fix=fix_for(item, index, python, source_roots, architecture, display_base))
        path = item.ref.path.relative_to(index.root).as_posix() if item.ref.path.is_relative_to(index.root) \
            else str(item.ref.path)
        if reached is not None and item.importer.name not in reached:
            message += f"; no handler reaches `{item.importer.name}`, so this is not a failure"
            findings.append(Finding("DV222", path, item.ref.line, message, Severity.WARNING))
            continue
        findings.append(Finding(rule="DV222", path=path, line=item.ref.line, message=message))
    return findings
