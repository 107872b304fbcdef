"""Turn the import probe's report into verdicts: the handler's init error (DV211), cold start (DV212), first-party
(DV220) and third-party (DV221) import failures, each with the Lambda error a deploy would show and the fix.

A third-party module counts as reached when first-party code imports it statically (BundleIndex) or it was loaded
while the handler or first-party modules were imported. A failure in a module nothing reaches is an optional part of
a package (botocore.crt without awscrt, PIL.ImageQt without Qt): a warning, never a failure. The same holds for a
first-party module no handler reaches (a script, an optional backend), unless the target asks for strict.

A module that calls AWS while it is imported cannot be verified past that call offline: the probe reports it as
"needs AWS at import" with the first-party call site, a warning, and a failure only when the probe could reach AWS.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployverify.core import registry
from deployverify.core.handler import parse_handler
from deployverify.core.results import Finding, Severity
from deployverify.gate.probe.imports import BundleIndex
from deployverify.gate.probe.suggest import suggest_for_missing

TASK = "/var/task/"


@dataclass(frozen=True)
class ProbeJudgeContext:
    """What the fix suggestions need besides the probe report."""

    index: BundleIndex
    source_roots: tuple[Path, ...]
    python: str
    architecture: str = "x86_64"
    display_base: Path | None = None
    task_root: str = TASK  # where the bundle was mounted in the sandbox
    aws_reachable: bool = False  # the probe ran with access to AWS: a failed call at import is a real failure
    strict: bool = False  # a first-party module no handler reaches fails DV220 like a reached one
    # Handler module -> the function of the application it belongs to, for functions not probed with this one.
    handlers_elsewhere: tuple[tuple[str, str], ...] = ()


def shown_path(path: str, ctx: ProbeJudgeContext) -> str:
    """A sandbox path as the user knows it: bundle-relative for the bundle, as-is otherwise."""
    for prefix in (ctx.task_root, TASK):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def _frame_in(frames: list[list[Any]], ctx: ProbeJudgeContext) -> tuple[str, int] | None:
    """The innermost frame in the bundle: where the failing statement is."""
    for file, line, *_ in reversed(frames):
        local = shown_path(str(file), ctx)
        if local != str(file):
            return local, int(line)
    return None


def _where(frames: list[list[Any]], ctx: ProbeJudgeContext) -> str:
    frame = _frame_in(frames, ctx)
    return f" at {frame[0]}:{frame[1]}" if frame else ""


def fix_for(record: dict[str, Any], ctx: ProbeJudgeContext, *, say_where: bool = True) -> str:
    """What to do about one failed import (a probe module record or handler record)."""
    frames = record.get("frames", []) if say_where else []
    missing = record.get("missing")
    frame = _frame_in(record.get("frames", []), ctx)
    if missing:
        local = str(ctx.index.root / frame[0]) if frame else None
        return suggest_for_missing(missing, local, ctx.index, ctx.source_roots, line=frame[1] if frame else None,
                                   python=ctx.python, architecture=ctx.architecture, display_base=ctx.display_base)
    kind = record.get("cause_type") or record.get("error_type", "")
    if kind in ("SyntaxError", "IndentationError", "TabError"):
        return f"fix the syntax error{_where(frames, ctx)}"
    if kind == "MemoryLimit":
        return "the module allocates without bound while it is imported: bound what it loads, or load it lazily " \
               "inside the handler"
    if kind in ("Crash", "Timeout"):
        return "import it alone in the runtime's image to see why; a native extension built for another platform " \
               "or import-time work that blocks are the usual causes"
    if kind == "KeyError" and frame:
        return (f"the module reads a missing key while it is imported{_where(frames, ctx)}; if it is an environment "
                "variable, set it in functions[].environment or read it inside the handler")
    return (f"the module raises {kind} while it is imported{_where(frames, ctx)}: fix it or move that work into "
            "the handler")


def error_text(record: dict[str, Any], ctx: ProbeJudgeContext) -> str:
    kind = record.get("cause_type") or record.get("error_type", "Error")
    message = record.get("cause_message") or record.get("message", "")
    return f"{kind}: {message}{_where(record.get('frames', []), ctx)}"


# -- the handler ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HandlerVerdict:
    handler: str
    error_type: str      # what Lambda would report, e.g. Runtime.ImportModuleError
    reason: str          # its message
    fix: str

    def message(self) -> str:
        return registry.message("DV211", handler=self.handler, error_type=self.error_type, reason=self.reason,
                                fix=self.fix)


def handler_record(report: dict[str, Any] | None, handler: str) -> dict[str, Any] | None:
    for record in (report or {}).get("handlers", []):
        if record.get("handler") == handler:
            return dict(record)
    return None


def _functions_in(file: Path) -> list[str]:
    try:
        tree = ast.parse(file.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def judge_handler(record: dict[str, Any], ctx: ProbeJudgeContext) -> HandlerVerdict | None:
    """None when the handler resolved; otherwise the init error Lambda would report and what to change."""
    if record.get("ok") or (record.get("needs_aws") and not ctx.aws_reachable):
        return None
    handler = str(record.get("handler"))
    error_type = str(record.get("error_type", "Runtime.Unknown"))
    reason = str(record.get("message", ""))
    module_name, _, function = handler.rpartition(".")
    if error_type == "Runtime.HandlerNotFound":
        info = ctx.index.resolve(module_name.replace("/", "."))
        defined = _functions_in(info.path) if info and info.path.is_file() else []
        where = _relative(info, ctx) if info else f"`{module_name}`"
        options = f" (it defines {', '.join(f'`{d}`' for d in defined[:5])})" if defined else ""
        fix = f"define `{function}` in {where} or point the handler at a function that exists{options}"
    elif error_type == "Runtime.BuiltInModuleConflict":
        top = module_name.split(".")[0]
        fix = (f"`{top}` is a module built into CPython, so Lambda never imports yours: rename the module "
               f"(e.g. `{top}_handler.py`) and the handler to `{top}_handler.{function}`")
    elif error_type == "Runtime.MalformedHandlerName":
        fix = "write the handler as MODULE.FUNCTION, e.g. app.handler"
    elif error_type == "Runtime.UserCodeSyntaxError":
        fix = f"fix the syntax error{_where(record.get('frames', []), ctx)}"
    elif record.get("crashed"):
        fix = "the interpreter died at init: check native extensions for the runtime's platform (DV201-DV205)"
    else:
        fix = fix_for(record, ctx)
    return HandlerVerdict(handler, error_type, reason, fix)


def _relative(info: Any, ctx: ProbeJudgeContext) -> str:
    try:
        return f"`{Path(info.path).relative_to(ctx.index.root).as_posix()}`"
    except ValueError:
        return f"`{info.path}`"


# -- import-time AWS calls ------------------------------------------------------------------------------------------

def aws_call_site(record: dict[str, Any], ctx: ProbeJudgeContext) -> tuple[str, int, str] | None:
    """The innermost first-party frame of a call that could not reach AWS: (bundle path, line, source line)."""
    own = {m.path.relative_to(ctx.index.root).as_posix() for m in ctx.index.first_party_modules()
           if m.path.is_relative_to(ctx.index.root)}
    for file, line, _function, source, *_ in reversed(record.get("frames", [])):
        local = shown_path(str(file), ctx)
        if local in own:
            return local, int(line), str(source)
    frame = _frame_in(record.get("frames", []), ctx)
    return (frame[0], frame[1], "") if frame else None


def aws_at_import_finding(record: dict[str, Any], ctx: ProbeJudgeContext, rule: str, what: str) -> Finding | None:
    """A warning for a module (or handler) whose import stopped at a call to AWS the offline probe cannot make."""
    if not record.get("needs_aws") or ctx.aws_reachable:
        return None
    site = aws_call_site(record, ctx)
    path, line, source = site or ("", 0, "")
    where = f"{path}:{line}" if site else "an unknown line"
    call = f" (`{source.strip()}`)" if source.strip() else ""
    message = (f"{what} needs AWS at import: verified up to {where}{call}; the probe is offline, so the call failed "
               f"with {record['needs_aws']} and the rest of the import did not run; in Lambda the execution role "
               "makes that call: let the probe reach AWS to verify the rest, or move the call into the handler")
    return Finding(rule, path, line, message, Severity.WARNING)


# -- every module ---------------------------------------------------------------------------------------------------

def reached_dynamically(report: dict[str, Any] | None) -> set[str]:
    loaded: set[str] = set((report or {}).get("first_party_loaded", []))
    for record in (report or {}).get("handlers", []):
        loaded.update(record.get("loaded", []))
    return loaded


def reached_first_party(report: dict[str, Any] | None, index: BundleIndex) -> set[str] | None:
    """First-party modules a handler reaches: imported from it statically, or loaded while it was imported. None when
    the probe resolved no handler, so reach cannot be told."""
    handlers = (report or {}).get("handlers", [])
    if not handlers:
        return None
    start = [str(h.get("handler", "")).rpartition(".")[0].replace("/", ".") for h in handlers]
    # Only what the handlers loaded: the probe's first-party batch imports every module, reached or not.
    return index.first_party_closure([*start, *(name for h in handlers for name in h.get("loaded", []))])


def _importers(index: BundleIndex) -> dict[str, list[tuple[str, int, bool]]]:
    """Third-party module -> (first-party file, line, guarded) of each statement that imports it."""
    found: dict[str, list[tuple[str, int, bool]]] = defaultdict(list)
    for module, ref in index.first_party_imports():
        if ref.type_checking:
            continue
        relative = module.path.relative_to(index.root).as_posix() if module.path.is_relative_to(index.root) \
            else str(module.path)
        for candidate in ref.candidates():
            parts = candidate.split(".")
            for depth in range(1, len(parts) + 1):
                found[".".join(parts[:depth])].append((relative, ref.line, ref.guarded))
    return found


def first_party_findings(report: dict[str, Any] | None, ctx: ProbeJudgeContext) -> list[Finding]:
    findings: list[tuple[bool, Finding]] = []
    reached = None if ctx.strict else reached_first_party(report, ctx.index)
    for name, record in sorted((report or {}).get("modules", {}).items()):
        info = ctx.index.resolve(name)
        if record.get("ok") or info is None or not info.first_party:
            continue
        path = _relative(info, ctx).strip("`")
        aws = aws_at_import_finding(record, ctx, "DV220", f"`{name}`")
        if aws is not None:
            findings.append((True, aws))
            continue
        own = [int(f[1]) for f in record.get("frames", []) if shown_path(str(f[0]), ctx) == path]
        line = own[-1] if own else 1
        if reached is not None and name not in reached:
            owner = ", ".join(function for module, function in ctx.handlers_elsewhere if module == name)
            text = (f"`{name}` fails to import but no handler reaches it: {error_text(record, ctx)}; not a failure "
                    + (f"here: it is the handler of {owner}, whose own result judges it" if owner else
                       "(a module a handler imports would be); delete it if nothing uses it"))
            findings.append((True, Finding("DV220", path, line, text, Severity.WARNING)))
            continue
        message = registry.message("DV220", module=name, error=error_text(record, ctx),
                                   fix=fix_for(record, ctx, say_where=False))
        innermost = _frame_in(record.get("frames", []), ctx)
        findings.append((innermost is not None and innermost[0] == path,
                         Finding("DV220", path, line, message, Severity.ERROR)))
    # Root causes first: a module whose own file holds the failing statement, then those failing through it.
    return [f for _, f in sorted(findings, key=lambda item: (not item[0], item[1].path))]


def third_party_findings(report: dict[str, Any] | None, ctx: ProbeJudgeContext,
                         statically_reached: Iterable[str]) -> list[Finding]:
    static = set(statically_reached)
    dynamic = reached_dynamically(report)
    importers = _importers(ctx.index)
    errors: list[Finding] = []
    optional: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for name, record in sorted((report or {}).get("modules", {}).items()):
        info = ctx.index.resolve(name)
        if record.get("ok") or info is None or info.first_party:
            continue
        via = importers.get(name, [])
        if name in dynamic:
            optional[info.distribution or name.split(".")[0]].append((name, record))  # loads fine in real use
        elif name in static and via and not all(guarded for _, _, guarded in via):
            file, line, _ = next(v for v in via if not v[2])
            message = registry.message("DV221", module=name, via=f"{file}:{line}", error=error_text(record, ctx),
                                       fix=fix_for(record, ctx, say_where=False))
            errors.append(Finding("DV221", file, line, message, Severity.ERROR))
        else:
            optional[info.distribution or name.split(".")[0]].append((name, record))
    warnings = []
    broken = {f.message.split("`")[1].split(".")[0] for f in errors}
    for distribution, failed in sorted(optional.items()):
        failed = [(n, r) for n, r in failed if n.split(".")[0] not in broken]  # same cause as an error above
        if not failed:
            continue
        name, record = failed[0]
        more, verb, them = (f" and {len(failed) - 1} more", "fail", "them") if len(failed) > 1 else ("", "fails", "it")
        text = (f"`{name}`{more} of `{distribution}` {verb} to import but no first-party code reaches {them} "
                f"(optional parts of the package): {error_text(record, ctx)}; not a failure")
        path = _relative(ctx.index.modules[name], ctx).strip("`")
        warnings.append(Finding("DV221", path, 1, text, Severity.WARNING))
    return errors + warnings



def context_for(target: Any, index: BundleIndex, application: Any = None) -> ProbeJudgeContext:
    """Suggestions search the target's source roots, else the folder of its target file (never the bundle).
    `application`, the whole target, names the handlers of the other functions that may share the bundle."""
    roots = tuple(target.source_roots()) or ((target.source_path.parent,) if target.source_path else ())
    base = target.source_path.parent if target.source_path else None
    probed = {f.name for f in target.functions}
    elsewhere = tuple((parse_handler(f.handler).import_name, f.name)
                      for f in (application.functions if application is not None else ()) if f.name not in probed)
    return ProbeJudgeContext(index=index, source_roots=roots, python=target.python_version,
                             architecture=target.architecture, display_base=base, handlers_elsewhere=elsewhere)


def usable(outcome: Any) -> Any:
    """The probe's outcome when it produced a report; otherwise the check is blocked by DV230, which says why."""
    from deployverify.core import check as dv

    __tracebackhide__ = True
    if isinstance(outcome, Exception):
        dv.blocked("DV230", str(outcome).splitlines()[0])
    if outcome.report is None:
        dv.blocked("DV230", f"the import probe produced no report: {outcome.error}")
    return outcome
