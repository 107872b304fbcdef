"""A pytest plugin the secret-hygiene test loads into a real CLI run (PYTEST_ADDOPTS="-p ..."): DV410's body
crashes with the value of DV_TEST_CRASH_WITH (the planted password) in its exception, as careless code would.
The check must become an `error` result whose message and traceback evidence hold no secret."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    marker = item.get_closest_marker("dv_check")
    value = os.environ.get("DV_TEST_CRASH_WITH")
    if marker is not None and marker.args[0] == "DV410" and value:
        raise RuntimeError(f"could not log in with password {value} to the database")
    yield
