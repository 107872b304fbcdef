"""Work that stopped moving, read from the status table: rows in a non-final status older than a threshold, and
the success rate of the rows that finished in the window.

Only SELECTs: the canary reads production rows and never changes them. Rows a verification run created (a non-null
`run_id`, when the table has that column) are left out: they are the harness's, not the service's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from deployverify.canary.window import Window
from deployverify.pipeline import db
from deployverify.target.model import Pipeline

SAMPLE_IDS = 5


class StatusTableMissing(Exception):
    """The status table, or the timestamp column the canary ages rows by, does not exist."""


@dataclass(frozen=True)
class StuckWork:
    count: int
    oldest_age_s: float
    sample_ids: tuple[str, ...]
    by_status: dict[str, int]


@dataclass(frozen=True)
class SuccessRate:
    processed: int
    failed: int

    @property
    def finished(self) -> int:
        return self.processed + self.failed

    @property
    def percent(self) -> float | None:
        return 100 * self.processed / self.finished if self.finished else None


def _service_rows_only(conn: Connection, pipe: Pipeline, timestamp_column: str) -> sql.Composable:
    columns = db.table_columns(conn, pipe.status_table)
    if columns is None:
        raise StatusTableMissing(f"table `{pipe.status_table}` does not exist")
    if timestamp_column not in columns:
        raise StatusTableMissing(f"table `{pipe.status_table}` has no column `{timestamp_column}` "
                                 f"(canary.timestamp_column); columns: {', '.join(sorted(columns))}")
    return sql.SQL("run_id IS NULL") if "run_id" in columns else sql.SQL("TRUE")


def stuck_work(conn: Connection, pipe: Pipeline, timestamp_column: str, older_than_min: int,
               now: dt.datetime | None = None) -> StuckWork:
    """Rows whose status is neither final nor failed and whose timestamp is older than `older_than_min`."""
    ours = _service_rows_only(conn, pipe, timestamp_column)
    table, status, stamp, key = (sql.Identifier(pipe.status_table), sql.Identifier(pipe.status_column),
                                 sql.Identifier(timestamp_column), sql.Identifier(pipe.id_column))
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=older_than_min)
    where = sql.SQL("{status} NOT IN (%(final)s, %(failed)s) AND {stamp} < %(cutoff)s AND {ours}").format(
        status=status, stamp=stamp, ours=ours)
    values = {"final": pipe.final_status, "failed": pipe.failed_status, "cutoff": cutoff}
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {status}, count(*), min({stamp}) FROM {table} WHERE {where} GROUP BY {status}")
                    .format(status=status, stamp=stamp, table=table, where=where), values)
        groups = cur.fetchall()
        cur.execute(sql.SQL("SELECT {key} FROM {table} WHERE {where} ORDER BY {stamp}, {key} LIMIT %(limit)s")
                    .format(key=key, table=table, where=where, stamp=stamp), {**values, "limit": SAMPLE_IDS})
        sample = tuple(str(row[0]) for row in cur.fetchall())
    reference = now or dt.datetime.now(dt.UTC)
    oldest = min((row[2] for row in groups), default=None)
    if oldest is not None and oldest.tzinfo is None:  # a `timestamp` column: the service writes UTC
        oldest = oldest.replace(tzinfo=dt.UTC)
    age = (reference - oldest).total_seconds() if oldest is not None else 0.0
    return StuckWork(count=sum(int(row[1]) for row in groups), oldest_age_s=age, sample_ids=sample,
                     by_status={str(row[0]): int(row[1]) for row in groups})


def success_rate(conn: Connection, pipe: Pipeline, timestamp_column: str, window: Window) -> SuccessRate:
    """Rows that reached the final or the failed status within the window."""
    ours = _service_rows_only(conn, pipe, timestamp_column)
    query = sql.SQL("SELECT {status}, count(*) FROM {table} WHERE {status} IN (%(final)s, %(failed)s) "
                    "AND {stamp} >= %(start)s AND {stamp} < %(end)s AND {ours} GROUP BY {status}").format(
        status=sql.Identifier(pipe.status_column), table=sql.Identifier(pipe.status_table),
        stamp=sql.Identifier(timestamp_column), ours=ours)
    with conn.cursor() as cur:
        cur.execute(query, {"final": pipe.final_status, "failed": pipe.failed_status, "start": window.start,
                            "end": window.end})
        counts = {str(row[0]): int(row[1]) for row in cur.fetchall()}
    return SuccessRate(processed=counts.get(pipe.final_status, 0), failed=counts.get(pipe.failed_status, 0))
