"""The test user: seeded idempotently in one transaction, tagged with the run id, removed only if this run made it.

The target's seed SQL runs with psycopg2 named parameters `%(email)s` and `%(run_id)s` (a script without `%(`
runs as written). It must be idempotent (`ON CONFLICT ... DO NOTHING`): seeding twice leaves one user. The tables
it inserts into are read from its `INSERT INTO` statements; the user's row is the one in the first of them that has
an `email` column. Removal deletes only rows of those tables whose `run_id` is this run's: a user that existed
before the run, or that another run made, is never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from deployverify.core.errors import DeployVerifyError
from deployverify.pipeline import db
from deployverify.target.model import Seed

RUN_COLUMN = "run_id"
EMAIL_COLUMN = "email"
DEFAULT_SQL = ("INSERT INTO users (email, run_id) VALUES (%(email)s, %(run_id)s) "
               "ON CONFLICT (email) DO NOTHING;")
_INSERT_INTO = re.compile(r"\binsert\s+into\s+((?:\"[^\"]+\"|[\w$]+)(?:\s*\.\s*(?:\"[^\"]+\"|[\w$]+))?)",
                          re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


class SeedError(DeployVerifyError):
    """The seed cannot run or does not produce the user."""


@dataclass(frozen=True)
class SeededUser:
    id: Any
    email: str
    table: str
    created_by_run: bool  # this run's id is on the row: the run removes it at the end


def seed_script(seed: Seed) -> str:
    if seed.sql is None:
        return DEFAULT_SQL
    try:
        return seed.sql.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(f"cannot read the seed SQL: {exc.strerror}", where=str(seed.sql)) from None


def seeded_tables(script: str) -> list[str]:
    """Tables the script inserts into, in order of first appearance."""
    found = [" ".join(m.group(1).split()) for m in _INSERT_INTO.finditer(_COMMENT.sub(" ", script))]
    return list(dict.fromkeys(found))


def _identifier(name: str) -> sql.Composable:
    parts = [p.strip().strip('"') for p in name.split(".")]
    return sql.Identifier(*parts)


def user_table(conn: Connection, tables: list[str]) -> str:
    for table in tables:
        columns = db.table_columns(conn, table)
        if columns and EMAIL_COLUMN in columns:
            return table
    raise SeedError(f"the seed inserts into {', '.join(tables) or 'no table'}, none of which has an "
                    f"`{EMAIL_COLUMN}` column; the seed must create the test user", where="seed.sql")


def run_seed(conn: Connection, seed: Seed, run_id: str) -> SeededUser:
    """Run the seed in one transaction and return the user it guarantees. Safe to call from several processes."""
    script = seed_script(seed)
    tables = seeded_tables(script)
    params = {"email": seed.email, "run_id": run_id}
    with db.transaction(conn):
        with conn.cursor() as cur:
            cur.execute(script, params if "%(" in script else None)
        table = user_table(conn, tables)
        user = _find_user(conn, table, seed.email, run_id)
    if user is None:
        raise SeedError(f"after the seed ran, `{table}` has no row with email `{seed.email}`; the seed must insert "
                        "it (with ON CONFLICT DO NOTHING)", where=str(seed.sql or "seed"))
    return user


def _find_user(conn: Connection, table: str, email: str, run_id: str) -> SeededUser | None:
    columns = db.table_columns(conn, table) or set()
    run = sql.Identifier(RUN_COLUMN) if RUN_COLUMN in columns else sql.SQL("NULL")
    key = sql.Identifier("id") if "id" in columns else sql.SQL("ctid::text")
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {}, {} FROM {} WHERE {} = %s").format(
            key, run, _identifier(table), sql.Identifier(EMAIL_COLUMN)), (email,))
        row = cur.fetchone()
    if row is None:
        return None
    return SeededUser(id=row[0], email=email, table=table, created_by_run=row[1] == run_id)


def snapshot(conn: Connection, seed: Seed, run_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """The seed's footprint: in each seeded table, the rows carrying the email or the run id (a bare count for a
    table with neither), as text and sorted. Equal snapshots before and after a second seed mean it is idempotent."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    for table in seeded_tables(seed_script(seed)):
        columns = db.table_columns(conn, table) or set()
        where = [sql.SQL("t.{} = %s").format(sql.Identifier(c)) for c in (EMAIL_COLUMN, RUN_COLUMN) if c in columns]
        args = [v for c, v in ((EMAIL_COLUMN, seed.email), (RUN_COLUMN, run_id)) if c in columns]
        with conn.cursor() as cur:
            if where:
                cur.execute(sql.SQL("SELECT t::text FROM {} AS t WHERE ").format(_identifier(table))
                            + sql.SQL(" OR ").join(where), args)
            else:
                cur.execute(sql.SQL("SELECT count(*)::text FROM {}").format(_identifier(table)))
            state[table] = sorted(cur.fetchall())
    return state


def remove_run_rows(conn: Connection, seed: Seed, run_id: str, *, guard_table: str | None = None,
                    guard_column: str | None = None) -> dict[str, int]:
    """Delete this run's rows from the seeded tables (last inserted first) in one transaction.

    With a guard (the documents table and its owner column), a user row that still owns documents is kept: another
    process of the same run is still using it.
    """
    tables = list(reversed(seeded_tables(seed_script(seed))))
    removed: dict[str, int] = {}
    with db.transaction(conn), conn.cursor() as cur:
        for table in tables:
            columns = db.table_columns(conn, table) or set()
            if RUN_COLUMN not in columns:
                continue
            query = sql.SQL("DELETE FROM {} AS t WHERE t.{} = %s").format(_identifier(table),
                                                                          sql.Identifier(RUN_COLUMN))
            args: list[Any] = [run_id]
            if guard_table and guard_column and "id" in columns:
                query += sql.SQL(" AND NOT EXISTS (SELECT 1 FROM {} AS d WHERE d.{} = t.id)").format(
                    _identifier(guard_table), sql.Identifier(guard_column))
            cur.execute(query, args)
            removed[table] = cur.rowcount
    return removed
