"""DV21x: the handler string is valid, the handler imports and resolves in the Lambda image, init fits its budget."""

from __future__ import annotations

from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.core.handler import EXEC_WRAPPER, is_wrapper_script
from deployverify.core.results import Finding
from deployverify.gate.cold_start import cold_start_finding
from deployverify.gate.handler_check import handler_string_problem, script_handler_problems
from deployverify.gate.probe import SandboxUnavailable
from deployverify.gate.probe.findings import aws_at_import_finding, context_for, handler_record, judge_handler, usable
from deployverify.gate.probe.imports import BundleIndex
from deployverify.gate.probe.run_probe import ProbeOutcome
from deployverify.target import Target


@check("DV210")
def test_handler_string_valid(target: Target) -> None:
    """Each handler is MODULE.FUNCTION (a `/` path is allowed) and its module is not built into CPython.

    Lambda refuses `time.handler` with Runtime.BuiltInModuleConflict: `import time` returns the interpreter's module.
    """
    for function in target.functions:
        problem = handler_string_problem(function.handler)
        if problem:
            dv.fail(registry.message("DV210", handler=function.handler, error_type=problem.error_type,
                                     reason=problem.reason, fix=problem.fix))
    dv.evidence(", ".join(f"`{f.handler}`" for f in target.functions))


@check("DV211")
def test_handler_resolves_in_image(target: Target, probe_report: ProbeOutcome | SandboxUnavailable,
                                   bundle_index: BundleIndex) -> None:
    """Each handler is imported and looked up the way the runtime does it (awslambdaric's `_get_handler`), in the
    sandbox DV230 names. A failure quotes the error Lambda would report at init and the fix. A handler whose import
    calls AWS is verified up to that call: a warning naming the call site while the probe is offline."""
    outcome = usable(probe_report)
    context = context_for(target, bundle_index)
    for function in target.functions:
        if is_wrapper_script(function.handler, function.environment):
            problems = script_handler_problems(function.handler, function.environment, bundle_index.root,
                                               target.bundle.layers)
            if problems:
                dv.fail(f"`{function.handler}` (run by {EXEC_WRAPPER}): " + "; ".join(problems))
            dv.evidence(f"`{function.handler}` checked as a script: present, executable, its exec wrapper declared")
            continue
        record = handler_record(outcome.report, function.handler)
        if record is None:
            dv.fail(f"the probe has no result for handler `{function.handler}`; rerun with -v")
        verdict = judge_handler(record, context)
        if verdict:
            dv.fail(verdict.message(), evidence=[f"frames: {record.get('frames', [])}"])
        needs_aws = aws_at_import_finding(record, context, "DV211", f"handler `{function.handler}`")
        if needs_aws:
            dv.record(needs_aws)
        dv.evidence(f"`{function.handler}` resolved by {record.get('resolver')} in {outcome.described} "
                    f"(probe {outcome.probe_id})")


@check("DV212")
def test_cold_start_within_budget(target: Target, probe_report: ProbeOutcome | SandboxUnavailable) -> None:
    """Importing each handler fits Lambda's 10 s init limit and `functions[].init_budget_ms` (default 3000).

    Over Lambda's limit fails: the init is killed and the function cannot start. Over the budget is a warning
    finding: the sandbox's timing is indicative, not Lambda's."""
    outcome = usable(probe_report)
    over: list[Finding] = []
    for function in target.functions:
        if is_wrapper_script(function.handler, function.environment):
            continue  # the exec wrapper starts a process: there is no Python import to time
        record = handler_record(outcome.report, function.handler) or {}
        if record.get("needs_aws"):
            dv.evidence(f"`{function.handler}` init stopped at a call to AWS the offline probe cannot make: not timed")
            continue
        if not record.get("ok"):
            dv.blocked("DV211", f"handler `{function.handler}` does not import")
        dv.evidence(f"`{function.handler}` init {record.get('init_ms')} ms, peak RSS "
                    f"{round(int(record.get('peak_rss_kb', 0)) / 1024)} MB (budget {function.init_budget_ms} ms)")
        finding = cold_start_finding(record, function.init_budget_ms, function.memory_mb)
        if finding:
            over.append(finding)
    # Every function is timed before judging; an error (past Lambda's init limit) fails, a warning (budget) passes.
    dv.expect_no_findings(over)
