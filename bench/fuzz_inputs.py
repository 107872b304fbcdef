"""Fuzz every entry point that reads untrusted input with >= 10,000 Hypothesis cases each, through the real code.

    python bench/fuzz_inputs.py [--cases N] [--only NAME] [--case-bound-s S]

Entry points and contracts live in tests/reliability/entry_points.py (the CI tests run the same ones, fewer cases).
Prints, per entry point, how many cases ran, how they ended (accepted / refused / ...), and the slowest case.
Exits non-zero when any case breaks its contract (an exception other than one DeployVerifyError line, a value
quoted from a secret, control characters in printed output) or takes longer than the bound: a hang is a failure.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.reliability is shared

from hypothesis import HealthCheck, given, settings

from tests.reliability.entry_points import ENTRY_POINTS, TARGET_TEXTS, check_target_file


class CaseTooSlow(AssertionError):
    """One case ran longer than the bound: in a real run that input would have hung the command."""


def fuzz(name: str, strategy: Any, check: Any, cases: int, bound_s: float) -> tuple[int, dict[str, int], float, str]:
    outcomes: collections.Counter[str] = collections.Counter()
    slowest = 0.0

    @settings(max_examples=cases, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(value=strategy)
    def run(value: Any) -> None:
        nonlocal slowest
        started = time.perf_counter()
        outcome = check(value)
        seconds = time.perf_counter() - started
        slowest = max(slowest, seconds)
        outcomes[outcome] += 1
        if seconds > bound_s:
            raise CaseTooSlow(f"{name}: one case took {seconds:.1f}s (bound {bound_s}s)")

    try:
        run()
    except Exception:  # any failure is reported, with Hypothesis' minimal failing input
        return sum(outcomes.values()), dict(outcomes), slowest, traceback.format_exc(limit=6)
    return sum(outcomes.values()), dict(outcomes), slowest, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per entry point (default 10,000)")
    parser.add_argument("--only", default=None, help="one entry point, by name")
    parser.add_argument("--case-bound-s", type=float, default=5.0, help="the longest one case may take")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dv-fuzz-") as scratch:
        entry_points = {"target loader": (TARGET_TEXTS, lambda content: check_target_file(Path(scratch), content)),
                        **ENTRY_POINTS}
        failed = []
        print(f"{'entry point':22} {'cases':>7}  {'slowest':>8}  outcomes")
        for name, (strategy, check) in entry_points.items():
            if args.only and args.only != name:
                continue
            started = time.perf_counter()
            count, outcomes, slowest, failure = fuzz(name, strategy, check, args.cases, args.case_bound_s)
            spread = ", ".join(f"{n} {kind}" for kind, n in sorted(outcomes.items()))
            print(f"{name:22} {count:7d}  {slowest:7.3f}s  {spread}  ({time.perf_counter() - started:.0f}s)",
                  flush=True)
            # Hypothesis stops early when it has exhausted a small input space; fewer cases than asked is only a
            # miss when the strategy could have produced more.
            if failure:
                failed.append(name)
                print(f"FAILED {name}:\n{failure}")
            elif count < args.cases and name != "handler parser":
                failed.append(name)
                print(f"FAILED {name}: ran {count} cases, fewer than the {args.cases} asked")
    print("result:", f"FAILED ({', '.join(failed)})" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
