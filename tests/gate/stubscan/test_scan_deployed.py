"""`deployverify scan --deployed` against a real moto server on loopback (plain boto3 with an endpoint URL).

moto hands out a Code.Location on an AWS host, so the scan finds the deployment artifact in S3 instead; a function
created from a direct zip upload has no artifact, and the command says so. The Location path itself is exercised
against a local HTTP server."""

from __future__ import annotations

import io
import json
import threading
import uuid
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import boto3
import pytest

from deployverify.aws.session import clear_cache
from deployverify.cli import main
from deployverify.core.errors import DeployVerifyError
from deployverify.deployed.fetch import _download, _unzip
from fixtures.incidents.materialize import EXAMPLE_DIR, materialize
from tests.support.moto import moto_server

REGION = "us-east-1"
HANDLER = "process_document_lambda.handler"
ASSUME = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    for name, value in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    clear_cache()
    clients = {name: boto3.client(name, region_name=REGION, endpoint_url=moto_endpoint)
               for name in ("s3", "lambda", "iam")}
    role = clients["iam"].create_role(RoleName=f"dv-scan-{uuid.uuid4().hex[:8]}",
                                      AssumeRolePolicyDocument=ASSUME)["Role"]["Arn"]
    yield {**clients, "role": role}
    clear_cache()


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*.py")):
            archive.write(file, file.relative_to(folder).as_posix())
    return buffer.getvalue()


def _deploy_from_s3(aws: dict[str, object], source: Path, environment: dict[str, str] | None = None) -> str:
    s3, lam = aws["s3"], aws["lambda"]
    name = f"dv-scan-{uuid.uuid4().hex[:8]}"
    bucket = f"{name}-artifacts"
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    s3.put_object(Bucket=bucket, Key=f"builds/{name}.zip", Body=_zip(source))  # type: ignore[attr-defined]
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=aws["role"], Handler=HANDLER,  # type: ignore[attr-defined]
                        Code={"S3Bucket": bucket, "S3Key": f"builds/{name}.zip"},
                        Environment={"Variables": environment or {"LOG_LEVEL": "INFO"}})
    return name


def test_deployed_mock_is_found_through_the_s3_artifact(aws: dict[str, object], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    incident = materialize("mock_stub", tmp_path / "mock_stub")
    name = _deploy_from_s3(aws, incident / "apps/worker-tasks/src")
    assert main(["scan", "--deployed", "--function", name, "--no-cache"]) == 1
    captured = capsys.readouterr()
    assert "handler reaches `process_document_mock`" in captured.out
    assert "`process_document()` (134 lines, tasks/process_document.py) is never called" in captured.out
    assert f"used the deployment artifact s3://{name}-artifacts/builds/{name}.zip" in captured.err
    assert "X-Amz" not in captured.err  # a presigned Location is never printed


def test_deployed_healthy_worker_passes(aws: dict[str, object], capsys: pytest.CaptureFixture[str]) -> None:
    name = _deploy_from_s3(aws, EXAMPLE_DIR / "apps/worker-tasks/src")
    assert main(["scan", "--deployed", "--function", name, "--no-cache"]) == 0
    assert "0 error(s)" in capsys.readouterr().out


def test_deployed_environment_drives_mock_toggles(aws: dict[str, object], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "process_document_lambda.py").write_text(
        "import os\nfrom tasks import real, process_mock\n\n\ndef handler(event, context):\n"
        "    if os.environ.get('USE_MOCK', 'false') == 'true':\n        return process_mock(event)\n"
        "    return real(event)\n")
    (source / "tasks.py").write_text("import boto3\n\n\ndef real(e):\n    return boto3.client('s3').list_buckets()\n"
                                     "\n\ndef process_mock(e):\n    return None\n")
    name = _deploy_from_s3(aws, source, {"USE_MOCK": "true"})
    assert main(["scan", "--deployed", "--function", name, "--no-cache"]) == 1
    assert "`USE_MOCK` defaults to `'true'` (set in the function's environment)" in capsys.readouterr().out


def test_zip_upload_without_artifact_says_so(aws: dict[str, object], capsys: pytest.CaptureFixture[str]) -> None:
    name = f"dv-scan-{uuid.uuid4().hex[:8]}"
    aws["lambda"].create_function(  # type: ignore[attr-defined]
        FunctionName=name, Runtime="python3.11", Role=aws["role"], Handler=HANDLER,
        Code={"ZipFile": _zip(EXAMPLE_DIR / "apps/worker-tasks/src")})
    assert main(["scan", "--deployed", "--function", name]) == 2
    err = capsys.readouterr().err
    assert "created from a direct zip upload" in err
    assert "--artifact s3://BUCKET/KEY" in err


def test_unknown_function_is_an_input_error(aws: dict[str, object], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--deployed", "--function", "no-such-function"]) == 2
    assert "is not deployed" in capsys.readouterr().err


@pytest.fixture
def zip_server() -> Iterator[tuple[str, bytes]]:
    payload = _zip(EXAMPLE_DIR / "apps/worker-tasks/src")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = payload if self.path.startswith("/code.zip") else b"no"
            self.send_response(200 if body is payload else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", payload
    finally:
        server.shutdown()
        server.server_close()


def test_location_download_and_unzip(zip_server: tuple[str, bytes], tmp_path: Path) -> None:
    base, payload = zip_server
    data, problem = _download(f"{base}/code.zip?X-Amz-Signature=secret")
    assert data == payload
    assert problem == ""
    assert _download(f"{base}/missing")[1].endswith("answered HTTP 404")
    _unzip(data, tmp_path / "code")
    assert (tmp_path / "code" / "process_document_lambda.py").is_file()


def test_unzip_refuses_paths_outside_the_folder(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape.py", "x = 1\n")
    with pytest.raises(DeployVerifyError, match="unsafe path"):
        _unzip(buffer.getvalue(), tmp_path / "code")
    assert not (tmp_path / "escape.py").exists()
