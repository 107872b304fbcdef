"""deployverify.aws.session: the one client factory. Endpoints come from boto3's own AWS_ENDPOINT_URL handling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deployverify.aws import session
from deployverify.core.errors import DeployVerifyError
from deployverify.target.model import Bundle, Function, Target
from tests.support.moto import moto_server


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE",
                 "DV_AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    session.clear_cache()
    yield monkeypatch
    session.clear_cache()


def target(region: str | None) -> Target:
    return Target(name="t", runtime="python3.11", functions=(Function(name="f", handler="app.handler"),),
                  bundle=Bundle(output=Path("/tmp")), region=region)


@pytest.mark.parametrize(("target_region", "env", "expected"), [
    ("eu-west-1", {"AWS_REGION": "us-east-2"}, "eu-west-1"),
    (None, {"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-west-1"}, "us-east-2"),
    (None, {"AWS_DEFAULT_REGION": "us-west-1"}, "us-west-1"),
])
def test_region_prefers_the_target_then_the_environment(clean_env: pytest.MonkeyPatch, target_region: str | None,
                                                       env: dict[str, str], expected: str) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert session.region(target(target_region)) == expected
    assert session.client("sqs", target(target_region)).meta.region_name == expected


def test_no_region_anywhere_is_one_clear_error(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(DeployVerifyError, match="no AWS region"):
        session.client("sqs")


def test_aws_endpoint_url_and_the_per_service_variable_are_honoured(clean_env: pytest.MonkeyPatch,
                                                                      moto_url: str) -> None:
    clean_env.setenv("AWS_REGION", "us-east-1")
    clean_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    clean_env.setenv("AWS_ENDPOINT_URL_SQS", moto_url)
    sqs = session.client("sqs")
    assert sqs.meta.endpoint_url == moto_url
    url = sqs.create_queue(QueueName="session-test")["QueueUrl"]
    assert url.endswith("/123456789012/session-test")
    assert session.client("s3").meta.endpoint_url == "http://127.0.0.1:9"


def test_a_changed_environment_gives_a_new_client(clean_env: pytest.MonkeyPatch, moto_url: str) -> None:
    clean_env.setenv("AWS_REGION", "us-east-1")
    before = session.client("sqs")
    assert session.client("sqs") is before
    clean_env.setenv("AWS_ENDPOINT_URL", moto_url)
    after = session.client("sqs")
    assert after is not before
    assert after.meta.endpoint_url == moto_url


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_retry_mode_and_timeouts_are_set(clean_env: pytest.MonkeyPatch, mode: str) -> None:
    clean_env.setenv("AWS_REGION", "us-east-1")
    clean_env.setenv("DV_AWS_RETRY_MODE", mode)
    config = session.client("sqs").meta.config
    assert config.retries["mode"] == mode
    assert (config.connect_timeout, config.read_timeout) == (session.CONNECT_TIMEOUT_S, session.READ_TIMEOUT_S)


def test_an_unknown_retry_mode_is_an_input_error(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AWS_REGION", "us-east-1")
    clean_env.setenv("DV_AWS_RETRY_MODE", "fast")
    with pytest.raises(DeployVerifyError, match="'fast' is not one of standard, adaptive, legacy"):
        session.client("sqs")
