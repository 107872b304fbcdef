"""The example worker (examples/docworker) does what its README says, run for real: PyMuPDF on the fixture PDFs,
the secret parsing, the SQS message parsing and S3 access (against a real moto server on loopback, reached through
AWS_ENDPOINT_URL).

The worker's modules have generic top-level names (db, models, services, tasks, shared), so they are imported in a
module-scoped fixture that puts the worker's source roots first on sys.path and removes every trace afterwards.
"""

# PyMuPDF ships py.typed but leaves many functions unannotated; calling them is not an error here.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pymupdf
import pytest
import yaml

from tests.support.moto import moto_server

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO_ROOT / "examples" / "docworker"
WORKER_SOURCE_ROOTS = (EXAMPLE_DIR / "apps" / "worker-tasks" / "src", EXAMPLE_DIR / "apps" / "backend-api" / "src")
WORKER_TOP_LEVEL_NAMES = frozenset({"db", "models", "services", "tasks", "shared", "process_document_lambda"})
FIXTURES_DIR = REPO_ROOT / "fixtures" / "documents"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((FIXTURES_DIR / "expected.yaml").read_text(encoding="utf-8"))

SECRET_WITHOUT_NAME = {"host": "db.internal", "port": 5432, "username": "docworker", "password": "s3cr3t-Value"}


@dataclass(frozen=True)
class Worker:
    handler: ModuleType
    task: ModuleType
    db: ModuleType
    classifier: ModuleType
    extractor: ModuleType
    storage: ModuleType


def _is_worker_module(name: str) -> bool:
    return name.partition(".")[0] in WORKER_TOP_LEVEL_NAMES


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    saved_path = list(sys.path)
    saved_modules = {name: module for name, module in sys.modules.items() if _is_worker_module(name)}
    saved_dont_write_bytecode = sys.dont_write_bytecode
    for name in saved_modules:
        del sys.modules[name]
    sys.path[:0] = [str(root) for root in WORKER_SOURCE_ROOTS]
    sys.dont_write_bytecode = True  # keep __pycache__ out of the example's source tree
    try:
        yield Worker(
            handler=importlib.import_module("process_document_lambda"),
            task=importlib.import_module("tasks.process_document"),
            db=importlib.import_module("db"),
            classifier=importlib.import_module("services.classifier"),
            extractor=importlib.import_module("services.extractor"),
            storage=importlib.import_module("shared.storage.s3_service"),
        )
    finally:
        sys.path[:] = saved_path
        for name in [name for name in sys.modules if _is_worker_module(name)]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        sys.dont_write_bytecode = saved_dont_write_bytecode


def test_worker_modules_come_from_the_example_tree(worker: Worker) -> None:
    for module in (worker.handler, worker.task, worker.db, worker.storage):
        assert module.__file__ is not None
        assert Path(module.__file__).is_relative_to(EXAMPLE_DIR), module.__file__


# --- the fixture PDFs, through the worker's real extraction and classification ------------------------------------


@pytest.mark.parametrize("filename", sorted(EXPECTED))
def test_fixture_pdf_is_classified_and_its_fields_extracted(worker: Worker, filename: str) -> None:
    expected = EXPECTED[filename]

    analysis = worker.task.analyse_pdf((FIXTURES_DIR / filename).read_bytes())

    assert analysis.document_type == expected["document_type"]
    assert 0.0 <= analysis.confidence <= 1.0
    assert analysis.confidence >= expected["min_confidence"]
    assert analysis.fields == expected["fields"]
    assert analysis.page_count == 1


def test_every_fixture_pdf_has_an_expectation() -> None:
    assert sorted(path.name for path in FIXTURES_DIR.glob("*.pdf")) == sorted(EXPECTED)


def _page_texts(path: Path) -> list[str]:
    with pymupdf.open(path) as document:
        return [page.get_text() for page in document]


def test_generator_is_deterministic_and_matches_the_committed_pdfs(tmp_path: Path) -> None:
    for run in ("first", "second"):
        subprocess.run(
            [sys.executable, str(FIXTURES_DIR / "generate.py"), str(tmp_path / run)], check=True, capture_output=True
        )

    for filename in EXPECTED:
        first, second = (tmp_path / "first" / filename), (tmp_path / "second" / filename)
        assert first.read_bytes() == second.read_bytes(), f"{filename} differs between two runs of generate.py"
        # Text rather than bytes: another PyMuPDF version may lay out the same file differently.
        assert _page_texts(first) == _page_texts(FIXTURES_DIR / filename), f"{filename} is stale; rerun generate.py"


# --- classification and extraction edge cases ----------------------------------------------------------------------


def test_empty_text_is_unknown_with_full_confidence(worker: Worker) -> None:
    result = worker.classifier.classify("")

    assert (result.document_type, result.confidence) == ("unknown", 1.0)


def test_credential_words_alone_do_not_make_a_credential(worker: Worker) -> None:
    text = "Gift certificate GC-1 (expires 12/31/2026)\nLiquor license no. MB-1\nDEA agents eat here too"

    assert worker.classifier.classify(text).document_type == "unknown"


def test_dea_number_with_a_wrong_check_digit_is_not_stored(worker: Worker) -> None:
    extracted = worker.task.analyse_pdf((FIXTURES_DIR / "dea_registration.pdf").read_bytes()).fields
    tampered = worker.extractor.extract_fields("dea_registration", "DEA REGISTRATION NUMBER\nBR1234564\n")

    assert extracted["dea_number"] == "BR1234563"
    assert worker.extractor.is_valid_dea_number("BR1234563")
    assert not worker.extractor.is_valid_dea_number("BR1234564")
    assert tampered["dea_number"] is None


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("November 14, 2025", "2025-11-14"),
        ("03/01/2019", "2019-03-01"),
        ("10-31-2026", "2026-10-31"),
        ("2025-01-02", "2025-01-02"),
    ],
)
def test_dates_are_stored_as_iso(worker: Worker, raw: str, iso: str) -> None:
    assert worker.extractor.parse_date(raw) == iso


def test_a_file_that_is_not_a_pdf_is_unreadable(worker: Worker) -> None:
    with pytest.raises(worker.extractor.UnreadableDocumentError, match="not a PDF"):
        worker.task.analyse_pdf(b"PK\x03\x04 a zip file, not a PDF")


def test_a_pdf_without_a_text_layer_is_unreadable(worker: Worker) -> None:
    with pymupdf.open() as blank:
        blank.new_page()
        scan_like = blank.tobytes()

    with pytest.raises(worker.extractor.UnreadableDocumentError, match="no text layer"):
        worker.task.analyse_pdf(scan_like)


# --- database secret -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name_key", ["database", "dbname", "db_name"])
def test_database_name_is_read_from_any_of_the_three_keys(worker: Worker, name_key: str) -> None:
    params = worker.db.connection_params({**SECRET_WITHOUT_NAME, name_key: "credmate"})

    assert params == {
        "host": "db.internal",
        "port": 5432,
        "user": "docworker",
        "password": "s3cr3t-Value",
        "dbname": "credmate",
        "sslmode": "prefer",
        "connect_timeout": 5,
        "application_name": "docworker",
    }


def test_sslmode_and_string_port_from_the_secret_are_honoured(worker: Worker) -> None:
    params = worker.db.connection_params({**SECRET_WITHOUT_NAME, "port": "6432", "database": "x", "sslmode": "require"})

    assert (params["port"], params["sslmode"]) == (6432, "require")


def test_a_secret_without_a_database_name_fails_fast_without_leaking_values(worker: Worker) -> None:
    with pytest.raises(worker.db.DatabaseConfigError) as raised:
        worker.db.connection_params(SECRET_WITHOUT_NAME)

    message = str(raised.value)
    assert "database or dbname or db_name" in message
    assert "s3cr3t-Value" not in message
    assert "db.internal" not in message


def test_connect_without_db_secret_id_names_the_variable(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB_SECRET_ID", raising=False)

    with pytest.raises(worker.db.DatabaseConfigError, match="DB_SECRET_ID is not set"):
        worker.db.connect()


# --- SQS messages --------------------------------------------------------------------------------------------------


def test_sqs_records_become_document_messages(worker: Worker) -> None:
    event = {
        "Records": [
            {"messageId": "m-1", "body": json.dumps({"document_id": 42, "run_id": "dv-abc"})},
            {"messageId": "m-2", "body": json.dumps({"document_id": "43"})},
        ]
    }

    messages = list(worker.handler.messages_from(event))

    assert messages == [
        worker.handler.DocumentMessage(42, "dv-abc", "m-1"),
        worker.handler.DocumentMessage(43, None, "m-2"),
    ]


def test_a_direct_invocation_is_one_message(worker: Worker) -> None:
    assert list(worker.handler.messages_from({"document_id": 7})) == [worker.handler.DocumentMessage(7, None, None)]


@pytest.mark.parametrize("body", ["not json", "[42]", '{"document_id": true}', '{"document_id": "4x"}', "{}"])
def test_a_message_without_an_integer_document_id_is_rejected(worker: Worker, body: str) -> None:
    with pytest.raises(worker.handler.InvalidMessageError):
        list(worker.handler.messages_from({"Records": [{"messageId": "m-1", "body": body}]}))


# --- S3 ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def aws_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server on loopback; the worker's plain `boto3.client("s3")` finds it through AWS_ENDPOINT_URL."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto_server() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        yield url


def test_s3_service_reads_the_bucket_from_the_environment(worker: Worker, monkeypatch: pytest.MonkeyPatch,
                                                          aws_endpoint: str) -> None:
    pdf = (FIXTURES_DIR / "cme_certificate.pdf").read_bytes()
    monkeypatch.setenv("DOCUMENT_BUCKET", "docworker-test-documents")
    boto3.client("s3", endpoint_url=aws_endpoint).create_bucket(Bucket="docworker-test-documents")
    storage = worker.storage.S3Service()
    storage.upload_bytes("users/1/cme.pdf", pdf)

    info = storage.head("users/1/cme.pdf")
    downloaded = storage.download_bytes("users/1/cme.pdf", max_bytes=len(pdf))
    with pytest.raises(worker.storage.ObjectTooLargeError):
        storage.download_bytes("users/1/cme.pdf", max_bytes=len(pdf) - 1)

    assert (info.size, info.content_type) == (len(pdf), "application/pdf")
    assert downloaded == pdf
    stored = boto3.client("s3", endpoint_url=aws_endpoint).head_object(Bucket="docworker-test-documents",
                                                                      Key="users/1/cme.pdf")
    assert stored["ContentLength"] == len(pdf)  # the object went to the server, not to a stand-in


def test_s3_service_without_a_bucket_names_the_variable(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCUMENT_BUCKET", raising=False)

    with pytest.raises(worker.storage.StorageConfigError, match="DOCUMENT_BUCKET is not set"):
        worker.storage.S3Service()
