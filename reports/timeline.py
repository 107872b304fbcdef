"""A fixture document's trip (uploaded, message sent, invocation start and end, row status changes) as a timeline.

The report reads it from a check's evidence: an evidence item with two or more lines that start with an ISO 8601
time (`2026-02-03T04:00:01.250+00:00 message sent: ...`) is a trip. Its other lines name it (the first one, usually
`document 42 (invoice.pdf): ...`). Each step is shown with its time and its offset from the first step.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

STEP = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+(.+)$")


def _when(text: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def trip(evidence: str) -> dict[str, Any] | None:
    """The timeline in one evidence item, or None when it has fewer than two timed steps."""
    steps: list[tuple[dt.datetime, str, str]] = []
    names = []
    for line in evidence.splitlines():
        match = STEP.match(line.strip())
        when = _when(match.group(1)) if match else None
        if match and when is not None:
            steps.append((when, match.group(1), match.group(2)))
        elif line.strip():
            names.append(line.strip())
    if len(steps) < 2:
        return None
    steps.sort(key=lambda step: step[0])
    start, span = steps[0][0], max((steps[-1][0] - steps[0][0]).total_seconds(), 0.001)
    return {"name": names[0] if names else "document", "span_s": round(span, 3),
            "steps": [{"at": text, "event": event, "offset_s": round((when - start).total_seconds(), 3),
                       "percent": round((when - start).total_seconds() / span * 100, 1)}
                      for when, text, event in steps]}


def trips(evidence: list[str]) -> list[dict[str, Any]]:
    return [found for item in evidence if (found := trip(item)) is not None]
