"""Process one uploaded document: download it, read it, classify it, extract its fields, record the outcome.

This is the implementation the Lambda handler calls (and that the old Celery task wrapped). The database row is
the source of truth a user sees, so every outcome lands there: `processed` with the type, confidence and fields,
or `failed` with the error, after which the exception propagates so the SQS message is retried and, after the
queue's maxReceiveCount, parked in the dead-letter queue.

Every log line names the document, so one invocation can be found in CloudWatch Logs by document id.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from models.worker_document import (
    DocumentStatus,
    WorkerDocument,
    claim_for_processing,
    load_document,
    mark_failed,
    mark_processed,
)
from psycopg2.extensions import connection as Connection
from services.classifier import UNKNOWN, classify
from services.extractor import Fields, extract_fields, extract_text
from shared.storage.s3_service import S3Service

logger = logging.getLogger(__name__)

# Uploads are capped at 25 MB by the API; refuse anything bigger before spending memory on it.
MAX_DOCUMENT_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class Analysis:
    document_type: str
    confidence: float
    fields: Fields
    page_count: int
    text_length: int

    @property
    def found_fields(self) -> list[str]:
        return sorted(name for name, value in self.fields.items() if value is not None)

    @property
    def missing_fields(self) -> list[str]:
        return sorted(name for name, value in self.fields.items() if value is None)


def analyse_pdf(content: bytes) -> Analysis:
    """Everything the worker learns from the file itself, with no database or S3 involved."""
    extracted = extract_text(content)
    classification = classify(extracted.text)
    return Analysis(
        document_type=classification.document_type,
        confidence=classification.confidence,
        fields=extract_fields(classification.document_type, extracted.text),
        page_count=extracted.page_count,
        text_length=len(extracted.text),
    )


def describe_error(error: BaseException) -> str:
    """What goes into documents.error: the exception's type and message, never a traceback."""
    message = str(error).strip()
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def process_document(
    conn: Connection,
    document_id: int,
    *,
    storage: S3Service,
    run_id: str | None = None,
) -> WorkerDocument:
    started = time.monotonic()
    document = claim_for_processing(conn, document_id)
    if document is None:
        existing = load_document(conn, document_id)  # raises DocumentNotFoundError for an unknown id
        logger.info("Document %d already %s; nothing to do", document_id, existing.status.value)
        return existing
    if run_id and document.run_id and run_id != document.run_id:
        logger.warning(
            "Document %d belongs to run %s but the message names run %s", document_id, document.run_id, run_id
        )

    try:
        content = storage.download_bytes(document.s3_key, max_bytes=MAX_DOCUMENT_BYTES)
        logger.info("Downloaded file from S3: %d bytes [document %d]", len(content), document_id)

        analysis = analyse_pdf(content)
        logger.info(
            "Extracted %d characters from %d page(s) [document %d]",
            analysis.text_length,
            analysis.page_count,
            document_id,
        )
        logger.info("Classified as: %s (%.2f) [document %d]", analysis.document_type, analysis.confidence, document_id)
        _log_fields(document_id, analysis)

        processed = mark_processed(
            conn,
            document_id,
            document_type=analysis.document_type,
            confidence=analysis.confidence,
            fields=analysis.fields,
        )
    except Exception as error:
        _record_failure(conn, document_id, error)
        raise

    logger.info("Document %d processed in %.2fs", document_id, time.monotonic() - started)
    return processed


def _log_fields(document_id: int, analysis: Analysis) -> None:
    # Names only: the values are personal data (names, licence numbers) and stay in the database.
    if analysis.document_type == UNKNOWN:
        logger.info("No template matched; stored as unknown for review [document %d]", document_id)
        return
    logger.info("Extracted fields: %s [document %d]", ", ".join(analysis.found_fields) or "none", document_id)
    if analysis.missing_fields:
        logger.warning("Fields not found: %s [document %d]", ", ".join(analysis.missing_fields), document_id)


def _record_failure(conn: Connection, document_id: int, error: Exception) -> None:
    try:
        mark_failed(conn, document_id, describe_error(error))
    except Exception:
        # The original error is the one worth raising; a lost database connection must not mask it.
        logger.exception("Could not mark document %d %s", document_id, DocumentStatus.FAILED.value)
