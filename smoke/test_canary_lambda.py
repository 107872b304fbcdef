"""DV614, DV615, DV618, DV620 (canary only): each function's window in numbers (errors, throttles, invocations,
duration p95 and max, timeouts), its reserved concurrency and timeout margin, and the month's cost."""

from __future__ import annotations

from typing import Any

import psycopg2
import pytest

from deployverify.canary import cost, stuck_work
from deployverify.canary.metrics import LambdaWindow, lambda_window
from deployverify.canary.window import Window
from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.deployed import configuration as deployed
from deployverify.target import Target
from deployverify.target.model import Function

Deployment = tuple[Function, deployed.Deployed | None, LambdaWindow]


def _log_group(target: Target, function: Function, name: str) -> str:
    trigger = target.pipeline.trigger.function if target.pipeline else None
    if target.logs.group and (len(target.functions) == 1 or function.name == trigger):
        return target.logs.group
    return f"/aws/lambda/{name}"


# Session scope: the run orders checks by id across modules, and a module fixture would be rebuilt each time the
# run comes back to this module.
@pytest.fixture(scope="session")
def window(target: Target) -> Window:
    return Window.last(target.canary.window_min)


@pytest.fixture(scope="session")
def deployments(target: Target, aws: Any, window: Window) -> list[Deployment]:
    """Each function's deployed configuration (None when it is not deployed: DV601 says so) and its window."""
    from deployverify.aws.session import client

    no_retry = client("cloudwatch", target, max_attempts=1)
    found: list[Deployment] = []
    for function in target.functions:
        name = function.function_name or function.name
        try:
            config: deployed.Deployed | None = deployed.deployed_config(aws.client("lambda"), name)
        except deployed.FunctionMissing:
            config = None
        timeout = (config.timeout_s if config else None) or function.timeout_s
        found.append((function, config, lambda_window(aws.client("cloudwatch"), aws.client("logs"), name,
                                                      _log_group(target, function, name), window, timeout,
                                                      percentile_client=no_retry)))
    return found


@pytest.mark.canary
@check("DV614")
def test_error_rate_and_duration(target: Target, deployments: list[Deployment], window: Window) -> None:
    """Over the window (`canary.window_min`, default 24 h), each function's error rate (AWS/Lambda Errors over
    Invocations, through `get_metric_data`) stays below `canary.max_error_percent` (default 1%) and its duration p95
    below `canary.max_p95_duration_s` (default 120 s). Where the endpoint cannot compute p95, p95 comes from the
    window's REPORT lines in CloudWatch Logs; the evidence names the source."""
    canary = target.canary
    for _, _, seen in deployments:
        dv.evidence(seen.describe())
        problems = []
        if seen.error_percent >= canary.max_error_percent and seen.errors:
            problems.append(f"error rate {seen.error_percent:.1f}% ({seen.errors:g} error(s) in "
                            f"{seen.invocations:g} invocation(s); target < {canary.max_error_percent:g}%)")
        if seen.throttles:
            problems.append(f"{seen.throttles:g} throttle(s) (target 0)")
        if seen.p95_ms is not None and seen.p95_ms >= canary.max_p95_duration_s * 1000:
            problems.append(f"duration p95 {seen.p95_ms / 1000:.1f} s (from {seen.p95_source}; "
                            f"target < {canary.max_p95_duration_s:g} s)")
        if problems:
            dv.fail(registry.message("DV614", function=seen.function, problem=" and ".join(problems),
                                     window=window.describe()))


@pytest.mark.canary
@check("DV615")
def test_no_timeouts(target: Target, deployments: list[Deployment], window: Window) -> None:
    """No invocation in the window ran into the function's configured timeout (a `Task timed out` line, a REPORT
    with `Status: timeout`, or a REPORT duration at the deployed timeout); at most `canary.max_timeouts` (default 0)."""
    for function, config, seen in deployments:
        timeout = (config.timeout_s if config else None) or function.timeout_s
        dv.evidence(f"{seen.function}: {len(seen.timeouts)} timeout(s) among {seen.reports} REPORT line(s); "
                    f"timeout {timeout}s")
        if len(seen.timeouts) > target.canary.max_timeouts:
            dv.fail(registry.message("DV615", function=seen.function, count=len(seen.timeouts), timeout_s=timeout,
                                     window=window.describe(), threshold=target.canary.max_timeouts,
                                     sample=", ".join(seen.timeouts[:5])))


@pytest.mark.canary
@check("DV618")
def test_concurrency_and_timeout_margin(target: Target, deployments: list[Deployment]) -> None:
    """Each deployed function has reserved concurrency (so a burst cannot exhaust the database's connections or the
    account's concurrency), and its deployed timeout exceeds the window's longest invocation by at least
    `canary.min_timeout_margin_percent` (default 20%)."""
    margin = target.canary.min_timeout_margin_percent
    for _, config, seen in deployments:
        if config is None:
            dv.blocked("DV601", f"`{seen.function}` is not deployed")
        peak = seen.max_ms
        dv.evidence(f"{seen.function}: reserved concurrency {config.reserved_concurrency or 'none'}, timeout "
                    f"{config.timeout_s}s, longest invocation {'none' if peak is None else f'{peak:.0f} ms'}")
        if not config.reserved_concurrency:
            dv.fail(registry.message("DV618", function=seen.function, problem="no reserved concurrency",
                                     fix="set ReservedConcurrentExecutions to what the database can serve"))
        if peak is not None and config.timeout_s and config.timeout_s * 1000 < peak * (1 + margin / 100):
            dv.fail(registry.message(
                "DV618", function=seen.function,
                problem=f"timeout {config.timeout_s}s leaves {100 * (config.timeout_s * 1000 / peak - 1):.0f}% over "
                        f"the longest invocation ({peak / 1000:.1f} s; margin wanted {margin:g}%)",
                fix="raise the timeout or make the slow invocations faster"))


def _documents(target: Target, window: Window, request: pytest.FixtureRequest) -> tuple[int, str]:
    if target.pipeline is None:
        return 0, "no pipeline: no per-document cost"
    try:
        conn = request.getfixturevalue("database")
        rate = stuck_work.success_rate(conn, target.pipeline, target.canary.timestamp_column, window)
    except (pytest.skip.Exception, stuck_work.StatusTableMissing, psycopg2.Error) as exc:
        return 0, f"documents not counted: {str(exc).splitlines()[0]}"
    return rate.finished, f"{rate.finished} document(s) finished in `{target.pipeline.status_table}`"


@pytest.mark.canary
@check("DV620")
def test_cost_within_budget(target: Target, deployments: list[Deployment], window: Window,
                            request: pytest.FixtureRequest) -> None:
    """The month's cost, estimated from the window and scaled to 30 days (Lambda requests, GB-seconds from duration
    x deployed memory, and `canary.ai_cost_per_document_usd` per finished document), stays within
    `canary.budget_usd_month` (default $10, the seed's billing alarm). The message shows the arithmetic."""
    documents, note = _documents(target, window, request)
    dv.evidence(note)
    invocations = sum(seen.invocations for _, _, seen in deployments)
    # GB-seconds depend on each function's memory; one estimate carries their sum at a weighted memory of 1024 MB.
    gb_ms = sum(seen.duration_sum_ms * ((config.memory_mb if config else None) or function.memory_mb or 128)
                for function, config, seen in deployments)
    estimate = cost.estimate(invocations=invocations, duration_sum_ms=gb_ms / 1024, memory_mb=1024,
                             documents=documents, window_s=window.seconds, window=window.describe(),
                             ai_per_document_usd=target.canary.ai_cost_per_document_usd,
                             budget_usd=target.canary.budget_usd_month, architecture=target.architecture)
    dv.evidence(f"estimated month {estimate.arithmetic()}; budget ${target.canary.budget_usd_month:.2f}")
    if estimate.over:
        dv.fail(registry.message("DV620", arithmetic=estimate.arithmetic(),
                                 budget=f"{target.canary.budget_usd_month:.2f}"))
