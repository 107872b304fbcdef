"""Fixtures of the smoke engine's tests, loaded with `pytest_plugins = ("tests.support.smoke_fixtures",)`."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import psycopg2
import pytest
from psycopg2 import sql

from tests.support.env import TEST_DATABASE_URL, require_postgres
from tests.support.moto import moto_server
from tests.support.smoke_env import EXAMPLE, Database, Resources


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def scratch_database() -> Iterator[Database]:
    """A database of its own (created with the test role's CREATEDB), holding the example's schema; dropped after."""
    require_postgres()
    url = urlparse(TEST_DATABASE_URL)
    name = f"dv_smoke_{secrets.token_hex(4)}"
    admin = psycopg2.connect(TEST_DATABASE_URL, connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = Database(url.hostname or "127.0.0.1", url.port or 5432, url.username or "", url.password or "", name)
    try:
        with database.connect() as conn, conn.cursor() as cur:
            cur.execute((EXAMPLE / "schema.sql").read_text())
        yield database
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture
def resources(moto_url: str, scratch_database: Database) -> Resources:
    """Names for one test's AWS resources; call `.create()` (after adjusting `secret_value` if the test needs to)."""
    prefix = f"dv{uuid.uuid4().hex[:10]}"
    return Resources(url=moto_url, prefix=prefix, database=scratch_database, secret_value=scratch_database.secret())
