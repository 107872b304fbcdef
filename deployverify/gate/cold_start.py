"""DV212's verdict on a handler's cold start, from the import probe's record of importing it.

Lambda gives a function's init phase 10 s; past that the init is killed and retried inside the first invoke, so a
handler whose import takes longer cannot start reliably: that is a failure. Above the target's own budget
(`functions[].init_budget_ms`, default 3000) it is a warning: the sandbox's timing is indicative, and slow init
costs latency and money before it breaks anything.
"""

from __future__ import annotations

from typing import Any

from deployverify.core import registry
from deployverify.core.results import Finding, Severity

LAMBDA_INIT_LIMIT_MS = 10_000


def cold_start_finding(record: dict[str, Any], budget_ms: int, memory_mb: int | None) -> Finding | None:
    """An error past Lambda's init limit, a warning past the budget, None within both (or when the import failed)."""
    init_ms = float(record.get("init_ms", 0))
    if not record.get("ok") or init_ms <= min(budget_ms, LAMBDA_INIT_LIMIT_MS):
        return None
    over_limit = init_ms > LAMBDA_INIT_LIMIT_MS
    rss_mb = round(int(record.get("peak_rss_kb", 0)) / 1024)
    over = "Lambda's init limit: the function cannot start" if over_limit else "the target's budget"
    message = registry.message("DV212", handler=record.get("handler"), init_ms=round(init_ms), over=over,
                               budget_ms=budget_ms, limit_ms=LAMBDA_INIT_LIMIT_MS, rss_mb=rss_mb)
    if memory_mb and rss_mb > memory_mb:
        message += f"; peak RSS exceeds the function's {memory_mb} MB"
    module = str(record.get("handler", "")).rpartition(".")[0].replace(".", "/") + ".py"
    return Finding("DV212", module, 1, message, Severity.ERROR if over_limit else Severity.WARNING)
