"""The canary's own result as CloudWatch metrics (`Success` 1/0 and `DurationSeconds`) under the target's namespace
and dimensions, so an alarm can page on a failed canary, and on a missing one (treat missing data as breaching)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from deployverify.target.model import Target

SUCCESS_METRIC = "Success"
DURATION_METRIC = "DurationSeconds"


def dimensions(target: Target) -> list[dict[str, str]]:
    chosen = target.canary.metric.dimensions or {"Target": target.name}
    return [{"Name": k, "Value": v} for k, v in sorted(chosen.items())]


def publish_result(cloudwatch: Any, target: Target, passed: bool, duration_s: float,
                   when: dt.datetime | None = None) -> None:
    stamp = when or dt.datetime.now(dt.UTC)
    dims = dimensions(target)
    cloudwatch.put_metric_data(Namespace=target.canary.metric.namespace, MetricData=[
        {"MetricName": SUCCESS_METRIC, "Dimensions": dims, "Timestamp": stamp, "Value": 1.0 if passed else 0.0,
         "Unit": "Count"},
        {"MetricName": DURATION_METRIC, "Dimensions": dims, "Timestamp": stamp, "Value": round(duration_s, 3),
         "Unit": "Seconds"}])
