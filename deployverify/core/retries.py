"""What was retried in this process, by operation and reason, so a report can say it.

AWS calls retry inside botocore (standard mode, `deployverify.aws.session.config`); this module only watches, through
botocore's event hooks: `response-received` fires once per attempt (with the HTTP status and error code, or the
exception), `after-call` / `after-call-error` once per call. Every attempt but a call's last was retried; for a call
that succeeded, the count is checked against botocore's own `ResponseMetadata.RetryAttempts`. The database
connection's own retries (`deployverify.pipeline.db.connect`) are recorded here too.

The plugin takes a snapshot before each check and adds `lines_since(snapshot)` to its evidence.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

_lock = threading.Lock()
_retried: Counter[tuple[str, str]] = Counter()  # (operation, reason of the failed attempt) -> attempts retried
_ATTEMPTS = "deployverify_attempts"


def record(operation: str, reason: str, count: int = 1) -> None:
    with _lock:
        _retried[(operation, reason)] += count


def snapshot() -> dict[tuple[str, str], int]:
    with _lock:
        return dict(_retried)


def lines_since(before: dict[tuple[str, str], int]) -> list[str]:
    """One evidence line per retried operation since `before`, e.g. `retried sqs.SendMessage 2x (503 SlowDown x2)`."""
    now = snapshot()
    delta: dict[str, Counter[str]] = {}
    for (operation, reason), count in now.items():
        grown = count - before.get((operation, reason), 0)
        if grown > 0:
            delta.setdefault(operation, Counter())[reason] += grown
    return [f"retried {operation} {sum(reasons.values())}x (" +
            ", ".join(f"{reason} x{n}" for reason, n in sorted(reasons.items())) + ")"
            for operation, reasons in sorted(delta.items())]


def watch_botocore_client(client: Any) -> None:
    """Count the retries of every call this client makes (idempotent per client)."""
    events = client.meta.events
    events.register("response-received", _attempt, unique_id="deployverify-retries-attempt")
    events.register("after-call", _finished, unique_id="deployverify-retries-after")
    events.register("after-call-error", _finished, unique_id="deployverify-retries-after-error")


def _attempt(*, context: dict[str, Any], response_dict: dict[str, Any] | None, parsed_response: Any,
             exception: BaseException | None, **_: Any) -> None:
    if exception is not None:
        outcome = type(exception).__name__
    elif response_dict is not None and int(response_dict.get("status_code", 200)) >= 300:
        error = (parsed_response or {}).get("Error", {}) if isinstance(parsed_response, dict) else {}
        outcome = f"{response_dict['status_code']} {error.get('Code') or 'error'}"
    else:
        outcome = "ok"
    context.setdefault(_ATTEMPTS, []).append(outcome)


def _finished(*, context: dict[str, Any], event_name: str, **kwargs: Any) -> None:
    attempts: list[str] = context.pop(_ATTEMPTS, [])
    parsed = kwargs.get("parsed")
    reported = parsed.get("ResponseMetadata", {}).get("RetryAttempts") if isinstance(parsed, dict) else None
    if isinstance(reported, int) and reported > len(attempts) - 1:  # botocore's own count is the authority
        attempts = ["unrecorded"] * (reported + 1 - len(attempts)) + attempts
    if len(attempts) < 2:
        return
    # event_name is after-call.<service-id>.<Operation>
    _, service, operation = event_name.split(".", 2)
    for reason in attempts[:-1]:
        record(f"{service}.{operation}", reason)
