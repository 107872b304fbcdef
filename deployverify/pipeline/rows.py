"""The status table as the suite sees it: which columns it reads and writes, and every SQL statement on it.

The target names the status and result columns; the owner, object key and file name columns are found in the
database (a foreign key to the seeded user's table, the first known spelling of a key or file name column), so the
suite fills in what the worker's real upload path would. Every row the suite inserts carries the run id, which is
how the run's cleanup finds it and nothing else.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from deployverify.pipeline import db
from deployverify.target.model import Pipeline

INITIAL_STATUS = "uploaded"
RUN_COLUMN = "run_id"
KEY_COLUMNS = ("s3_key", "object_key", "file_key", "storage_key")
FILENAME_COLUMNS = ("original_filename", "filename", "file_name")


@dataclass(frozen=True)
class RowLayout:
    table: str
    id: str
    status: str
    type: str
    confidence: str
    fields: str
    error: str
    run: str
    owner: str | None = None
    key: str | None = None
    filename: str | None = None


@dataclass(frozen=True)
class Row:
    """The columns of a document's row the checks judge."""

    status: str | None
    document_type: str | None
    confidence: float | None
    fields: Any
    error: str | None


def required_columns(pipeline: Pipeline) -> list[str]:
    """Columns the suite reads or writes: the target's status and result columns and the run id tag."""
    names = [pipeline.id_column, pipeline.status_column, pipeline.type_column, pipeline.confidence_column,
             pipeline.fields_column, pipeline.error_column, RUN_COLUMN]
    return list(dict.fromkeys(names))


def row_layout(conn: Connection, pipeline: Pipeline, user_table: str | None) -> RowLayout:
    columns = db.table_columns(conn, pipeline.status_table) or set()
    return RowLayout(
        table=pipeline.status_table, id=pipeline.id_column, status=pipeline.status_column,
        type=pipeline.type_column, confidence=pipeline.confidence_column, fields=pipeline.fields_column,
        error=pipeline.error_column, run=RUN_COLUMN,
        owner=db.foreign_key_to(conn, pipeline.status_table, user_table) if user_table else None,
        key=next((c for c in KEY_COLUMNS if c in columns), None),
        filename=next((c for c in FILENAME_COLUMNS if c in columns), None))


def table_identifier(name: str) -> sql.Composable:
    """`schema.table` (either part possibly quoted) as a safely quoted SQL identifier."""
    return sql.Identifier(*[p.strip().strip('"') for p in name.split(".")])


def document_keys(pipeline: Pipeline) -> list[str]:
    """A stable, unique name per listed document (its file name; repeated files get #2, #3...)."""
    seen: dict[str, int] = {}
    keys = []
    for document in pipeline.documents:
        name = document.file.name
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return keys


def insert_row(conn: Connection, layout: RowLayout, run_id: str, user_id: Any, object_key: str,
               filename: str) -> int:
    """A new row in the initial status, tagged with the run id (and owner, key, file name where the table has
    them), as the worker's upload path would write it; returns its id."""
    columns: list[tuple[str, Any]] = [(layout.status, INITIAL_STATUS), (layout.run, run_id)]
    if layout.owner:
        columns.append((layout.owner, user_id))
    if layout.key:
        columns.append((layout.key, object_key))
    if layout.filename:
        columns.append((layout.filename, filename))
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        table_identifier(layout.table), sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns),
        sql.SQL(", ").join(sql.Placeholder() for _ in columns), sql.Identifier(layout.id))
    with conn.cursor() as cur:
        cur.execute(query, [v for _, v in columns])
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


def read_row(conn: Connection, layout: RowLayout, document_id: int) -> Row | None:
    query = sql.SQL("SELECT {}, {}, {}, {}, {} FROM {} WHERE {} = %s").format(
        *(sql.Identifier(c) for c in (layout.status, layout.type, layout.confidence, layout.fields, layout.error)),
        table_identifier(layout.table), sql.Identifier(layout.id))
    with conn.cursor() as cur:
        cur.execute(query, (document_id,))
        row = cur.fetchone()
    if row is None:
        return None
    fields = row[3]
    if isinstance(fields, str):
        with contextlib.suppress(json.JSONDecodeError):
            fields = json.loads(fields)
    confidence = float(row[2]) if row[2] is not None else None
    return Row(row[0], row[1], confidence, fields, row[4])


def delete_row(conn: Connection, layout: RowLayout, document_id: int, run_id: str) -> None:
    """Delete one document's row, only if this run made it (the run id guards against a reused id)."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE {} = %s AND {} = %s").format(
            table_identifier(layout.table), sql.Identifier(layout.id), sql.Identifier(layout.run)),
            (document_id, run_id))


def delete_run_rows(conn: Connection, table: str, run_id: str) -> int:
    """Delete every row tagged with the run id; returns how many."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE {} = %s").format(table_identifier(table),
                                                                   sql.Identifier(RUN_COLUMN)), (run_id,))
        return int(cur.rowcount)
