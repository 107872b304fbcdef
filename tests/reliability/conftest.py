"""Hypothesis profiles: `ci` (the default) keeps the fuzz tests to a few hundred cases per entry point; the bench
(bench/fuzz_inputs.py) runs >= 10,000. No deadline: the tests assert outcomes, never durations."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("dev", max_examples=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("DV_HYPOTHESIS_PROFILE", "ci"))
