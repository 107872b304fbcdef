"""EventBridge schedule expressions: `rate(N unit)` and six-field `cron(min hour dom month dow year)`, and the last
time one fired before a moment, so the canary can ask whether the function ran within its last period.

Supported cron syntax: `*`, `?`, numbers, names (JAN-DEC, SUN-SAT; day-of-week 1 = SUN as in EventBridge), ranges,
lists and `/` steps. `L`, `W` and `#` are not evaluated: `last_fire` raises `Unsupported`, and the check says so.
"""

from __future__ import annotations

import datetime as dt
import re

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name: i for i, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
_LAST_OR_WEEKDAY = re.compile(r"\d*L|\d+W|LW")
_LOOKBACK_DAYS = 400  # a yearly schedule's last run is within this many days


class Unsupported(ValueError):
    pass


def normalise(expression: str) -> str:
    return re.sub(r"\s+", " ", expression.strip())


def rate_seconds(expression: str) -> int | None:
    found = _RATE.match(normalise(expression))
    return int(found.group(1)) * _UNIT_S[found.group(2).rstrip("s")] if found else None


def _field(text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    if text in ("*", "?"):
        return set(range(low, high + 1))
    values: set[int] = set()
    for part in text.split(","):
        if "#" in part or _LAST_OR_WEEKDAY.fullmatch(part.upper()):
            raise Unsupported(f"`{part}` (L, W and # are not evaluated)")
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _value(a, names), _value(b, names)
        else:
            first = _value(base, names)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high):
            raise Unsupported(f"`{part}` is out of range {low}-{high}")
        values.update(range(first, last + 1, step))
    return values


def _value(text: str, names: dict[str, int]) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not upper.isdigit():
        raise Unsupported(f"`{text}` is not a number or a name")
    return int(upper)


def last_fire(expression: str, before: dt.datetime) -> dt.datetime:
    """The latest time at or before `before` (UTC) a cron expression fires; for a rate, `before` minus its period."""
    seconds = rate_seconds(expression)
    if seconds is not None:
        return before - dt.timedelta(seconds=seconds)
    found = _CRON.match(normalise(expression))
    if not found:
        raise Unsupported(f"`{expression}` is neither rate(...) nor cron(...)")
    parts = found.group(1).split()
    if len(parts) != 6:
        raise Unsupported(f"`{expression}` has {len(parts)} fields; EventBridge cron has 6")
    minutes, hours = _field(parts[0], 0, 59, {}), _field(parts[1], 0, 23, {})
    doms, months = _field(parts[2], 1, 31, {}), _field(parts[3], 1, 12, _MONTHS)
    dows, years = _field(parts[4], 1, 7, _DAYS), _field(parts[5], 1970, 2199, {})
    moment = before.astimezone(dt.UTC).replace(second=0, microsecond=0)
    day = moment.date()
    for _ in range(_LOOKBACK_DAYS):
        weekday = (day.isoweekday() % 7) + 1  # EventBridge: 1 = Sunday
        if day.year in years and day.month in months and day.day in doms and weekday in dows:
            for hour in sorted(hours, reverse=True):
                for minute in sorted(minutes, reverse=True):
                    fire = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
                    if fire <= moment:
                        return fire
        day -= dt.timedelta(days=1)
    raise Unsupported(f"`{expression}` did not fire in the last {_LOOKBACK_DAYS} days")
