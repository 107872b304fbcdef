"""Prerequisites of the harness's own tests. A laptop without Docker skips; CI (CI=true) fails instead."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache

import pytest

from deployverify.core.check import in_ci

TEST_IMAGE = os.environ.get("DV_TEST_IMAGE", "deployverify/lambda-python:3.11")
TEST_DATABASE_URL = os.environ.get(
    "DV_TEST_DATABASE_URL", "postgresql://deployverify:deployverify@127.0.0.1:5432/deployverify_test"
)


def _unavailable(reason: str) -> None:
    __tracebackhide__ = True
    if in_ci():
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)")
    pytest.skip(reason)


@cache
def docker_problem() -> str | None:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.images.get(TEST_IMAGE)
    except Exception as exc:
        return f"Docker engine or image {TEST_IMAGE} unavailable: {type(exc).__name__}: {exc}"
    return None


def require_docker() -> None:
    __tracebackhide__ = True
    problem = docker_problem()
    if problem:
        _unavailable(problem)


@cache
def postgres_problem() -> str | None:
    import psycopg2

    try:
        psycopg2.connect(TEST_DATABASE_URL, connect_timeout=5).close()
    except Exception as exc:
        return f"Postgres at {TEST_DATABASE_URL.split('@')[-1]} unavailable: {type(exc).__name__}"
    return None


def require_postgres() -> None:
    __tracebackhide__ = True
    problem = postgres_problem()
    if problem:
        _unavailable(problem)


def require_tool(command: str, what: str) -> None:
    __tracebackhide__ = True
    if shutil.which(command) is None:
        _unavailable(f"{what} is not installed (`{command}` is not on PATH)")


def require_program(path: str, what: str) -> None:
    """A program at a fixed path (say, one a dev extra installs next to the interpreter, off PATH)."""
    __tracebackhide__ = True
    if not os.access(path, os.X_OK):
        _unavailable(f"{what} is not installed (no {path})")


def require_bwrap() -> None:
    __tracebackhide__ = True
    if shutil.which("bwrap") is None:
        _unavailable("bubblewrap (bwrap) is not installed")
        return
    done = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-net", "true"], capture_output=True, check=False)
    if done.returncode != 0:
        _unavailable(f"bwrap cannot create a sandbox here: {done.stderr.decode(errors='replace').strip()}")
