"""Redaction: secret values never leave the process; identifiers stay readable so reports remain useful."""

from __future__ import annotations

import logging

import pytest

from deployverify.core import redact


@pytest.mark.parametrize(("text", "expected"), [
    ("connect with pw-Zq81-long failed", "connect with *** failed"),
    ("postgresql://docworker:hunter2-xyz@db:5432/app", "postgresql://docworker:***@db:5432/app"),
    ("host=db user=docworker password=plain-secret-9 dbname=app", "host=db user=docworker password=*** dbname=app"),
    ("token tok-ABCDEFGH and api key ak-12345678", "token *** and api key ***"),
])
def test_secret_values_are_masked_wherever_they_appear(text: str, expected: str) -> None:
    redact.register_mapping({"username": "docworker", "host": "db", "password": "pw-Zq81-long",
                             "api_key": "ak-12345678", "token": "tok-ABCDEFGH", "port": 5432})
    redact.register("hunter2-xyz")
    assert redact.redact(text) == expected


def test_identifiers_of_a_secret_stay_readable() -> None:
    redact.register_mapping({"username": "docworker", "database": "credmate", "host": "db.internal",
                             "password": "another-secret-1"})
    assert redact.redact("docworker on db.internal/credmate") == "docworker on db.internal/credmate"


def test_unknown_keys_are_treated_as_secret() -> None:
    redact.register_mapping({"signing_material": "sm-0001-xyz"})
    assert redact.redact("uses sm-0001-xyz") == "uses ***"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    redact.register("log-secret-42")
    logger = logging.getLogger("dv-redact-test")
    handler = logging.StreamHandler()
    handler.addFilter(redact.RedactingFilter())
    logger.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="dv-redact-test"):
            logger.info("value %s", "log-secret-42")
    finally:
        logger.removeHandler(handler)
    assert "log-secret-42" not in caplog.text
