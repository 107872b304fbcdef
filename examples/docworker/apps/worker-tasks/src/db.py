"""PostgreSQL connections for the worker, configured from the Secrets Manager secret named in DB_SECRET_ID.

Expected secret (JSON):
    {"host": "...", "port": 5432, "username": "...", "password": "...", "database": "credmate", "sslmode": "require"}
The database name may be under "database", "dbname" (what RDS-managed secrets use) or "db_name": secrets written
by different tools disagree, and reading only one spelling once sent every connection to a database named "None".
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TypedDict

import boto3
import psycopg2
from psycopg2.extensions import connection as Connection

SECRET_ID_ENV = "DB_SECRET_ID"  # noqa: S105 - the variable's name, not a secret
DATABASE_NAME_KEYS = ("database", "dbname", "db_name")
DEFAULT_PORT = 5432
DEFAULT_SSLMODE = "prefer"
# Fail within the SQS visibility window instead of hanging on an unreachable host until the Lambda times out.
CONNECT_TIMEOUT_SECONDS = 5
APPLICATION_NAME = "docworker"


class DatabaseConfigError(RuntimeError):
    """The worker cannot tell how to reach its database. Messages name keys, never values."""


class ConnectionParams(TypedDict):
    host: str
    port: int
    user: str
    password: str
    dbname: str
    sslmode: str
    connect_timeout: int
    application_name: str


def secret_id_from_env() -> str:
    secret_id = os.environ.get(SECRET_ID_ENV, "").strip()
    if not secret_id:
        raise DatabaseConfigError(f"{SECRET_ID_ENV} is not set; it must name the database secret")
    return secret_id


def load_secret(secret_id: str) -> dict[str, object]:
    # Fetched per invocation rather than cached: a rotated password must not strand a warm container.
    response = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
    try:
        secret = json.loads(response["SecretString"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise DatabaseConfigError(f"Secret {secret_id} does not hold a JSON SecretString") from exc
    if not isinstance(secret, dict):
        raise DatabaseConfigError(f"Secret {secret_id} is JSON but not an object")
    return secret


def _first_present(secret: Mapping[str, object], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = secret.get(key)
        if value is not None and str(value).strip():
            return str(value)
    return None


def connection_params(secret: Mapping[str, object]) -> ConnectionParams:
    """Turn the secret into psycopg2 keyword arguments, failing fast and by key name when something is missing."""
    host = _first_present(secret, ("host",))
    user = _first_present(secret, ("username",))
    password = _first_present(secret, ("password",))
    dbname = _first_present(secret, DATABASE_NAME_KEYS)
    if host is None or user is None or password is None or dbname is None:
        labels = {"host": host, "username": user, "password": password, " or ".join(DATABASE_NAME_KEYS): dbname}
        missing = ", ".join(label for label, value in labels.items() if value is None)
        raise DatabaseConfigError(f"Database secret is missing {missing} (keys present: {sorted(secret)})")

    raw_port = secret.get("port", DEFAULT_PORT)
    try:
        port = int(str(raw_port))
    except ValueError as exc:
        raise DatabaseConfigError("Database secret has a non-numeric port") from exc

    return ConnectionParams(
        host=host,
        port=port,
        user=user,
        password=password,
        dbname=dbname,
        sslmode=_first_present(secret, ("sslmode",)) or DEFAULT_SSLMODE,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        application_name=APPLICATION_NAME,
    )


def connect(secret_id: str | None = None) -> Connection:
    """Open an autocommit connection; the caller closes it (one connection per invocation, see README)."""
    params = connection_params(load_secret(secret_id or secret_id_from_env()))
    conn: Connection = psycopg2.connect(**params)
    conn.autocommit = True
    return conn
