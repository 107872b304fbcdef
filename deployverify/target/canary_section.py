"""The target's `canary:` section as a typed `Canary`: thresholds (defaults are the seed's KPIs), scheduled tasks,
migration phases and where the canary's own metric goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deployverify.target import model
from deployverify.target.yamlnodes import LocatedDocument

_NUMBERS = ("window_min", "max_queue_age_s", "stuck_after_min", "min_success_percent", "max_error_percent",
            "max_p95_duration_s", "max_timeouts", "max_dlq_messages", "dlq_warn_retention_percent",
            "max_db_connections_percent", "min_timeout_margin_percent", "budget_usd_month",
            "ai_cost_per_document_usd")


def build_canary(doc: LocatedDocument, base: Path, raw: dict[str, Any], function_names: set[str]) -> model.Canary:
    defaults = model.Canary()
    values: dict[str, Any] = {name: raw.get(name, getattr(defaults, name)) for name in _NUMBERS}
    schedules = []
    for index, task in enumerate(raw.get("schedules", ())):
        if task["function"] not in function_names:
            known = ", ".join(sorted(function_names))
            raise doc.error(("canary", "schedules", index, "function"),
                            f"{task['function']!r} is not a function of the target (functions: {known})")
        schedules.append(model.ScheduledTask(function=task["function"], expression=task["expression"].strip(),
                                             rule=task.get("rule"), kind=task.get("kind", "rule"),
                                             group=task.get("group", "default")))
    phases = tuple(model.MigrationPhase(name=p["name"], checks=tuple(p["checks"])) for p in raw.get("phases", ()))
    metric = raw.get("metric", {})
    return model.Canary(
        **values, timestamp_column=raw.get("timestamp_column", defaults.timestamp_column),
        schedules=tuple(schedules), phases=phases,
        phase_reports=tuple((base / p).resolve() for p in raw.get("phase_reports", ())),
        metric=model.CanaryMetric(namespace=metric.get("namespace", defaults.metric.namespace),
                                  dimensions={k: str(v) for k, v in metric.get("dimensions", {}).items()}))
