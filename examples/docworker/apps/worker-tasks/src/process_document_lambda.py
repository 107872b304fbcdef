"""AWS Lambda entry point of the document worker (handler: process_document_lambda.handler).

Triggered by the FIFO document queue with BatchSize 1; each record's body is JSON such as
    {"document_id": 42, "run_id": "dv-20260203-ab12"}
(run_id is optional and only logged). A direct invocation with that object as the event works the same way.

Failures are raised, not swallowed: the task has already marked the row failed, and raising makes SQS redeliver
the message and, after maxReceiveCount, move it to the dead-letter queue. Lambda's bundle root (/var/task) is on
sys.path, and the build puts this file, its sibling packages and backend-api's `shared` there, so imports are
top-level (`models.…`, `shared.…`), never repository paths.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from db import connect
from models.worker_document import WorkerDocument
from shared.storage.s3_service import S3Service
from tasks.process_document import process_document

logger = logging.getLogger(__name__)

LOG_FORMAT = "[%(levelname)s] %(message)s"


class InvalidMessageError(ValueError):
    """The message can never be processed; it goes to the dead-letter queue after its retries."""


@dataclass(frozen=True)
class DocumentMessage:
    document_id: int
    run_id: str | None
    message_id: str | None = None


def configure_logging() -> None:
    root = logging.getLogger()
    # Lambda's runtime installs its own handler (adding the timestamp and request id); only add one elsewhere.
    if not root.handlers:
        logging.basicConfig(format=LOG_FORMAT)
    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    # A typo in LOG_LEVEL must not take the worker down; it only costs the chosen verbosity.
    root.setLevel(level if level in logging.getLevelNamesMapping() else logging.INFO)


def parse_message(body: Mapping[str, Any], message_id: str | None = None) -> DocumentMessage:
    raw_id = body.get("document_id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str) or not str(raw_id).strip().isdigit():
        raise InvalidMessageError(f"message {message_id or '(direct)'} has no integer document_id: {raw_id!r}")
    run_id = body.get("run_id")
    return DocumentMessage(int(raw_id), str(run_id) if run_id else None, message_id)


def messages_from(event: Mapping[str, Any]) -> Iterator[DocumentMessage]:
    if "Records" not in event:
        yield parse_message(event)
        return
    for record in event["Records"]:
        message_id = record.get("messageId")
        try:
            body = json.loads(record["body"])
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise InvalidMessageError(f"message {message_id} body is not JSON") from exc
        if not isinstance(body, dict):
            raise InvalidMessageError(f"message {message_id} body is not a JSON object")
        yield parse_message(body, message_id)


def handle_message(message: DocumentMessage) -> WorkerDocument:
    run = f" (run {message.run_id})" if message.run_id else ""
    logger.info("Processing document %d%s", message.document_id, run)
    try:
        with closing(connect()) as conn:
            logger.info("Database connection established [document %d]", message.document_id)
            return process_document(conn, message.document_id, storage=S3Service(), run_id=message.run_id)
    except Exception as error:
        # One line that names the document; the runtime logs the traceback itself when the exception leaves handler.
        logger.error("Document %d failed: %s: %s", message.document_id, type(error).__name__, error)
        raise


def summarise(document: WorkerDocument) -> dict[str, Any]:
    return {
        "document_id": document.id,
        "status": document.status.value,
        "document_type": document.document_type,
        "confidence": document.confidence,
    }


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    configure_logging()
    return {"documents": [summarise(handle_message(message)) for message in messages_from(event)]}
