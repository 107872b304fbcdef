"""The worker's database, reached the way the worker reaches it: psycopg2 with the settings from its secret.

"The way the worker reaches it" is literal where the code says so: when the bundle's code reads the database name
(or the user name) from particular secret keys, those keys are the ones used here, so a worker that reads `dbname`
from a secret that only has `database` fails here exactly as it fails in Lambda. Where the code says nothing, the
usual RDS secret layout applies (host, port, username, password, database|dbname|db_name, sslmode).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2
from psycopg2.extensions import connection as Connection

from deployverify.core import redact, retries
from deployverify.pipeline.secret_keys import KeyRead
from deployverify.pipeline.secrets import FetchedSecret, spellings

DATABASE_NAME_KEYS = ("database", "dbname", "db_name")
USER_KEYS = ("username", "user")
DEFAULT_PORT = 5432
DEFAULT_SSLMODE = "prefer"
APPLICATION_NAME = "deployverify"
WARN_PERCENT = 80


class ConnectionSettingsError(Exception):
    """The secret cannot give a connection the way the worker builds one. The message names keys, never values."""


@dataclass(frozen=True)
class ConnectionPlan:
    """psycopg2 keyword arguments, and which secret key each came from (for messages)."""

    params: dict[str, Any]
    sources: dict[str, str]

    def describe(self) -> str:
        return ", ".join(f"{param} from `{key}`" for param, key in sorted(self.sources.items()))


def _group_in_code(reads: Iterable[KeyRead], family: Sequence[str]) -> tuple[str, ...] | None:
    """The keys the code tries, in its order, for a setting whose usual spellings are `family`."""
    for read in reads:
        if set(read.keys) & set(family):
            return read.keys
    return None


def _pick(secret: FetchedSecret, keys: Sequence[str]) -> tuple[str, Any] | None:
    for key in keys:
        value = secret.values.get(key)
        if value is not None and str(value).strip():
            return key, value
    return None


def connection_plan(secret: FetchedSecret, reads: Sequence[KeyRead] = (), *, connect_timeout_s: int = 5) -> \
        ConnectionPlan:
    settings = {
        "host": _group_in_code(reads, ("host", "hostname")) or spellings(secret.spec, "host"),
        "user": _group_in_code(reads, USER_KEYS) or tuple(dict.fromkeys((*spellings(secret.spec, "username"),
                                                                           *USER_KEYS))),
        "password": _group_in_code(reads, ("password",)) or spellings(secret.spec, "password"),
        "dbname": _group_in_code(reads, DATABASE_NAME_KEYS) or tuple(dict.fromkeys(
            (*spellings(secret.spec, "database"), *spellings(secret.spec, "dbname"), *DATABASE_NAME_KEYS))),
    }
    params: dict[str, Any] = {}
    sources: dict[str, str] = {}
    missing = []
    for param, keys in settings.items():
        found = _pick(secret, keys)
        if found is None:
            missing.append(" or ".join(f"`{k}`" for k in keys))
            continue
        sources[param], params[param] = found[0], str(found[1])
    if missing:
        raise ConnectionSettingsError(f"secret `{secret.spec.id}` has no {', '.join(missing)} (keys present: "
                                      f"{secret.describe_keys()})")
    port = _pick(secret, spellings(secret.spec, "port"))
    try:
        params["port"] = int(str(port[1])) if port else DEFAULT_PORT
    except ValueError:
        raise ConnectionSettingsError(f"secret `{secret.spec.id}` has a non-numeric `port`") from None
    if port:
        sources["port"] = port[0]
    sslmode = _pick(secret, spellings(secret.spec, "sslmode"))
    params["sslmode"] = str(sslmode[1]) if sslmode else DEFAULT_SSLMODE
    params["connect_timeout"] = connect_timeout_s
    params["application_name"] = APPLICATION_NAME
    redact.register(*(v for k, v in params.items() if k == "password"))
    return ConnectionPlan(params=params, sources=sources)


@contextmanager
def transaction(conn: Connection) -> Iterator[None]:
    """One transaction on a connection that is normally autocommit: commit on success, roll back on anything
    (Ctrl-C included), and leave the connection's autocommit as it was."""
    previous = conn.autocommit
    conn.autocommit = False
    try:
        yield
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.autocommit = previous


# The server (or a proxy, a NAT, a failover) dropped the connection before answering: worth one more try. A refusal,
# a wrong password or an unknown database is an answer, and is not retried.
_TRANSIENT = ("server closed the connection unexpectedly", "Connection reset by peer", "could not receive data",
              "SSL SYSCALL error", "EOF detected", "terminating connection")
CONNECT_ATTEMPTS = 3


def connect(plan: ConnectionPlan, *, autocommit: bool = True) -> Connection:
    """Open a connection; a failure raises psycopg2.OperationalError, whose text `describe_error` makes printable.
    A connection dropped before the server answered is tried again (libpq has no retry of its own), at most
    CONNECT_ATTEMPTS times in all, and each retry is recorded for the check's evidence."""
    for attempt_number in range(1, CONNECT_ATTEMPTS + 1):
        try:
            conn: Connection = psycopg2.connect(**plan.params)
            break
        except psycopg2.OperationalError as exc:
            reason = next((t for t in _TRANSIENT if t in str(exc)), None)
            if reason is None or attempt_number == CONNECT_ATTEMPTS:
                raise
            retries.record("postgres.connect", reason)
            time.sleep(0.2 * attempt_number)
    conn.autocommit = autocommit
    return conn


def attempt(plan: ConnectionPlan | Exception) -> Iterator[Connection | Exception]:
    """A connection for the length of a fixture (closed after), or why there is none: a plan that could not be
    made, or the server refusing it. Checks judge the failure; they do not crash on it."""
    if isinstance(plan, Exception):
        yield plan
        return
    try:
        conn = connect(plan)
    except psycopg2.Error as exc:
        yield exc
        return
    try:
        yield conn
    finally:
        conn.close()


def describe_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact.redact(f"{type(exc).__name__}: {text}")


def fix_for(exc: BaseException) -> str:
    text = str(exc)
    if "password authentication failed" in text:
        return "the secret's password is not the database user's; rotate the secret or the password"
    if "does not exist" in text and "database" in text:
        return "the database named by the secret does not exist; fix the secret's database key or create it"
    if "timeout" in text or "could not connect" in text or "Connection refused" in text:
        return "the host is unreachable from here; check the security group, the VPC route and the host/port keys"
    if "SSL" in text or "sslmode" in text:
        return "the server and the secret's sslmode disagree; fix `sslmode`"
    return "check the secret's connection settings"


def server_version(conn: Connection) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version'), version()")
        row = cur.fetchone()
    return f"{row[0]} ({row[1].split(',')[0]})" if row else "unknown"


def table_columns(conn: Connection, table: str) -> set[str] | None:
    """The columns of `table` (optionally schema-qualified), or None when there is no such table."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)::oid", (table,))
        row = cur.fetchone()
        if row is None or row[0] is None:
            return None
        cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
                    (row[0],))
        return {r[0] for r in cur.fetchall()}


def foreign_key_to(conn: Connection, table: str, referenced: str) -> str | None:
    """The single column of `table` that references `referenced`, if any (the document row's owner column)."""
    with conn.cursor() as cur:
        cur.execute(
            """SELECT a.attname FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
               WHERE c.contype = 'f' AND c.conrelid = to_regclass(%s) AND c.confrelid = to_regclass(%s)
                 AND array_length(c.conkey, 1) = 1
               ORDER BY a.attname LIMIT 1""", (table, referenced))
        row = cur.fetchone()
    return str(row[0]) if row else None


@dataclass(frozen=True)
class Headroom:
    active: int
    maximum: int
    reserved: int  # superuser_reserved_connections: slots the worker's user can never have

    @property
    def percent(self) -> int:
        return round(100 * self.active / self.maximum) if self.maximum else 100

    @property
    def free(self) -> int:
        return max(0, self.maximum - self.reserved - self.active)

    @property
    def crowded(self) -> bool:
        return self.percent > WARN_PERCENT


def headroom(conn: Connection) -> Headroom:
    with conn.cursor() as cur:
        # Every backend a client holds counts against max_connections, idle or not.
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        active = int(cur.fetchone()[0])  # type: ignore[index]
        cur.execute("SELECT current_setting('max_connections')::int, "
                    "current_setting('superuser_reserved_connections')::int")
        maximum, reserved = cur.fetchone()  # type: ignore[misc]
    return Headroom(active=active, maximum=int(maximum), reserved=int(reserved))
