"""Bounded waits that say what they wait for and return the last state they saw, never hang silently."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from deployverify.core.progress import say

T = TypeVar("T")


@dataclass(frozen=True)
class WaitResult(Generic[T]):
    done: bool
    last: T | None
    waited_s: float
    polls: int


def wait_for(description: str, timeout_s: float, poll: Callable[[], tuple[bool, T]], *,
             first_delay_s: float = 0.2, max_delay_s: float = 2.0, growth: float = 1.6,
             announce: bool = True) -> WaitResult[T]:
    """Call `poll` with exponential backoff until it returns (True, state) or `timeout_s` passes."""
    if announce:
        say(f"waiting up to {timeout_s:.0f}s for {description}")
    started = time.monotonic()
    delay, polls, last = first_delay_s, 0, None
    while True:
        done, last = poll()
        polls += 1
        waited = time.monotonic() - started
        if done:
            return WaitResult(True, last, waited, polls)
        if waited >= timeout_s:
            return WaitResult(False, last, waited, polls)
        time.sleep(min(delay, max(0.0, timeout_s - waited)))
        delay = min(delay * growth, max_delay_s)
