"""A function's window in numbers: CloudWatch's AWS/Lambda metrics through `get_metric_data`, and its REPORT lines.

Errors, Throttles, Invocations and Duration (p95, max) come from one `get_metric_data` call. An endpoint that cannot
compute percentiles (moto answers p95 with an error or a datapoint without a value) leaves p95 to the window's REPORT
lines in CloudWatch Logs; `p95_source` says which one was used, because a report must say where a number came from.
Timeouts are only visible in the logs ("Task timed out after", or a REPORT with `Status: timeout`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from deployverify.canary.window import Window
from deployverify.pipeline.logs import parse_report

_REQUEST = re.compile(r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
METRICS_SOURCE = "CloudWatch AWS/Lambda Duration p95 (get_metric_data)"
LOGS_SOURCE = "REPORT lines in CloudWatch Logs"


@dataclass(frozen=True)
class LambdaWindow:
    function: str
    errors: float
    throttles: float
    invocations: float
    max_ms: float | None
    duration_sum_ms: float  # for the cost's GB-seconds
    p95_ms: float | None
    p95_source: str
    reports: int  # REPORT lines read from the logs (0 when the logs were not needed or not there)
    timeouts: tuple[str, ...]  # request ids that ran into the function's timeout
    logs_note: str = ""

    @property
    def error_percent(self) -> float:
        return 100 * self.errors / self.invocations if self.invocations else 0.0

    def describe(self) -> str:
        p95 = f"{self.p95_ms:.0f} ms ({self.p95_source})" if self.p95_ms is not None else "none"
        peak = f"{self.max_ms:.0f} ms" if self.max_ms is not None else "none"
        return (f"{self.function}: {self.invocations:g} invocation(s), {self.errors:g} error(s), "
                f"{self.throttles:g} throttle(s), duration p95 {p95}, max {peak}, {len(self.timeouts)} timeout(s)"
                f"{self.logs_note}")


def _query(qid: str, function: str, metric: str, stat: str, period_s: int) -> dict[str, Any]:
    return {"Id": qid, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric,
                   "Dimensions": [{"Name": "FunctionName", "Value": function}]},
        "Period": period_s, "Stat": stat}}


def _values(cloudwatch: Any, queries: list[dict[str, Any]], window: Window) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {q["Id"]: [] for q in queries}
    for page in cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=window.start, EndTime=window.end):
        for result in page.get("MetricDataResults", []):
            found[result["Id"]].extend(float(v) for v in result.get("Values", [])
                                       if v is not None and not math.isnan(float(v)))
    return found


def metric_period(window: Window) -> int:
    """One datapoint for the whole window: CloudWatch periods are multiples of 60 s."""
    return max(60, math.ceil(window.seconds / 60) * 60)


@dataclass(frozen=True)
class InvocationSums:
    invocations: float
    errors: float


def invocation_sums(cloudwatch: Any, function: str, window: Window) -> InvocationSums:
    """Invocations and Errors only: enough to tell whether a scheduled run happened and went well."""
    period = metric_period(window)
    sums = _values(cloudwatch, [_query("invocations", function, "Invocations", "Sum", period),
                                _query("errors", function, "Errors", "Sum", period)], window)
    return InvocationSums(invocations=sum(sums["invocations"]), errors=sum(sums["errors"]))


def lambda_window(cloudwatch: Any, logs: Any, function: str, log_group: str | None, window: Window,
                  timeout_s: float | None, *, percentile_client: Any = None) -> LambdaWindow:
    """`percentile_client`: a CloudWatch client that does not retry, for the p95 query an endpoint may refuse (a
    refused query retried with backoff costs seconds for nothing); `cloudwatch` when not given."""
    period = metric_period(window)
    sums = _values(cloudwatch, [_query("errors", function, "Errors", "Sum", period),
                                _query("throttles", function, "Throttles", "Sum", period),
                                _query("invocations", function, "Invocations", "Sum", period),
                                _query("maximum", function, "Duration", "Maximum", period),
                                _query("duration", function, "Duration", "Sum", period)], window)
    try:
        p95_values = _values(percentile_client or cloudwatch, [_query("p95", function, "Duration", "p95", period)],
                             window)["p95"]
    except ClientError:
        p95_values = []
    maximum = max(sums["maximum"], default=None)
    # Several periods' p95 cannot be combined exactly; the largest is the safe side of the threshold.
    p95 = max(p95_values, default=None)
    reports: list[float] = []
    timeouts: list[str] = []
    note = ""
    if log_group:
        try:
            reports, timeouts = report_durations(logs, log_group, window, timeout_s)
        except ClientError as exc:
            note = f"; logs `{log_group}` unreadable: {exc.response.get('Error', {}).get('Code', exc)}"
    source = METRICS_SOURCE
    duration_sum = sum(sums["duration"])
    if p95 is None and reports:
        p95, source = percentile(reports, 95), LOGS_SOURCE
        maximum = max(maximum or 0.0, max(reports))
    if not sums["duration"] and reports:
        duration_sum = sum(reports)
    elif p95 is None:
        source = "no Duration datapoint and no REPORT line in the window"
    return LambdaWindow(function=function, errors=sum(sums["errors"]), throttles=sum(sums["throttles"]),
                        invocations=sum(sums["invocations"]), max_ms=maximum, duration_sum_ms=duration_sum,
                        p95_ms=p95, p95_source=source,
                        reports=len(reports), timeouts=tuple(timeouts), logs_note=note)


def _events(logs: Any, group: str, window: Window, pattern: str) -> Iterator[str]:
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, startTime=window.start_ms, endTime=window.end_ms, filterPattern=pattern)
    for page in pages:
        for event in page.get("events", []):
            yield str(event.get("message", ""))


def report_durations(logs: Any, group: str, window: Window, timeout_s: float | None) -> tuple[list[float], list[str]]:
    """Durations (ms) of the window's REPORT lines, and the request ids that timed out. Only REPORT and timeout lines
    are fetched (a filter pattern), so a day of invocations is a few pages, not every line the function logged."""
    durations: list[float] = []
    timed_out: dict[str, None] = {}
    limit_ms = timeout_s * 1000 if timeout_s else None
    try:
        for text in _events(logs, group, window, '"REPORT RequestId"'):
            report = parse_report(text)
            if report is None:
                continue
            durations.append(report.duration_ms)
            if report.status == "timeout" or (limit_ms is not None and report.duration_ms >= limit_ms):
                timed_out[report.request_id] = None
        for text in _events(logs, group, window, '"Task timed out after"'):
            found = _REQUEST.search(text)
            timed_out[found.group(1) if found else text[:80]] = None
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return [], []
        raise
    return durations, list(timed_out)


def percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile, as CloudWatch computes pNN over raw samples."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]
