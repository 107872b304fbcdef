"""The canary's look-back window: the same start and end for every operational check of one run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def last(cls, minutes: int, now: dt.datetime | None = None) -> Window:
        end = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0) + dt.timedelta(seconds=1)
        return cls(end - dt.timedelta(minutes=minutes), end)

    @property
    def minutes(self) -> int:
        return round(self.seconds / 60)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    def describe(self) -> str:
        minutes = self.minutes
        if minutes % 1440 == 0:
            return f"{minutes // 1440 * 24} h"
        return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def age_text(seconds: float) -> str:
    """An age as a person reads it: 45 s, 12 min, 3.5 h, 45.0 days."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
