"""The worker's view of a row in the `documents` table, and the statements that move it through its lifecycle.

Lifecycle: uploaded -> processing -> processed | failed. A failed document is retried by SQS, so `failed` and a
stale `processing` (a previous invocation that timed out) may both be claimed again; only `processed` is final.
Each helper is one statement on an autocommit connection, so every state change is visible to the API at once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extensions import connection as Connection
from psycopg2.extras import Json

FieldValue = str | float | None

# The error column is shown to support staff; a full traceback belongs in the logs, not here.
MAX_ERROR_LENGTH = 2000

_COLUMNS = (
    "id, user_id, s3_key, original_filename, status, document_type, confidence, fields, error, run_id, processed_at"
)


class DocumentStatus(enum.StrEnum):
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"


@dataclass(frozen=True)
class WorkerDocument:
    id: int
    user_id: int | None
    s3_key: str
    original_filename: str | None
    status: DocumentStatus
    document_type: str | None
    confidence: float | None
    fields: dict[str, Any] | None
    error: str | None
    run_id: str | None
    processed_at: datetime | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> WorkerDocument:
        (id_, user_id, s3_key, filename, status, document_type, confidence, fields, error, run_id, processed_at) = row
        return cls(
            id=int(id_),
            user_id=user_id,
            s3_key=s3_key,
            original_filename=filename,
            status=DocumentStatus(status),
            document_type=document_type,
            confidence=confidence,
            fields=fields,
            error=error,
            run_id=run_id,
            processed_at=processed_at,
        )


class DocumentNotFoundError(LookupError):
    def __init__(self, document_id: int) -> None:
        super().__init__(f"Document {document_id} does not exist")
        self.document_id = document_id


def _fetch_one(conn: Connection, sql: str, params: tuple[Any, ...]) -> WorkerDocument | None:
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else WorkerDocument.from_row(row)


def load_document(conn: Connection, document_id: int) -> WorkerDocument:
    document = _fetch_one(conn, f"SELECT {_COLUMNS} FROM documents WHERE id = %s", (document_id,))
    if document is None:
        raise DocumentNotFoundError(document_id)
    return document


def claim_for_processing(conn: Connection, document_id: int) -> WorkerDocument | None:
    """Mark the document `processing` unless it is already processed; None means there is nothing left to do.

    FIFO queues deliver at least once, so a redelivered message for a processed document must not redo the work.
    """
    return _fetch_one(
        conn,
        f"UPDATE documents SET status = %s, error = NULL, updated_at = now() "
        f"WHERE id = %s AND status <> %s RETURNING {_COLUMNS}",
        (DocumentStatus.PROCESSING.value, document_id, DocumentStatus.PROCESSED.value),
    )


def mark_processed(
    conn: Connection,
    document_id: int,
    *,
    document_type: str,
    confidence: float,
    fields: Mapping[str, FieldValue],
) -> WorkerDocument:
    document = _fetch_one(
        conn,
        f"UPDATE documents SET status = %s, document_type = %s, confidence = %s, fields = %s, error = NULL, "
        f"processed_at = now(), updated_at = now() WHERE id = %s RETURNING {_COLUMNS}",
        (DocumentStatus.PROCESSED.value, document_type, confidence, Json(dict(fields)), document_id),
    )
    if document is None:
        raise DocumentNotFoundError(document_id)
    return document


def mark_failed(conn: Connection, document_id: int, error: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute(
            "UPDATE documents SET status = %s, error = %s, updated_at = now() WHERE id = %s",
            (DocumentStatus.FAILED.value, error[:MAX_ERROR_LENGTH], document_id),
        )
