"""DV104 against a real moto server on loopback: plain boto3 with an endpoint URL, no in-process mocks.

The function is created with the bundle's deterministic zip, as deployverify's deploys upload it; the gate must
then see the same CodeSha256, and a different one after the code changes.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from deployverify.aws import session
from deployverify.core.zipper import code_sha256, zip_bundle
from deployverify.deployed.code_identity import built_code_sha256, deployed_code, no_aws_reason
from deployverify.target import load_target
from deployverify.target.model import Target
from tests.support.moto import moto_server

FUNCTION = "dv-test-worker"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


AWS_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL",
                 "AWS_REGION", "AWS_DEFAULT_REGION")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Dummy credentials (moto accepts any) and every client pointed at the loopback server."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    values = {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
              "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
              "AWS_CONFIG_FILE": str(tmp_path / "no-config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-creds")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    session.clear_cache()
    try:
        yield values
    finally:
        session.clear_cache()


def make_bundle(root: Path, body: str = "return {'ok': True}") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(f"def handler(event, context):\n    {body}\n", encoding="utf-8")
    return root


def role_arn(moto_url: str) -> str:
    iam = boto3.client("iam", endpoint_url=moto_url, region_name=REGION)
    try:
        return str(iam.get_role(RoleName="dv-test-role")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_role(RoleName="dv-test-role", AssumeRolePolicyDocument=json.dumps({}))["Role"]["Arn"])


def deploy(moto_url: str, bundle: Path, name: str = FUNCTION) -> str:
    """Create or update the function from the bundle's deterministic zip; return the CodeSha256 Lambda reports."""
    role = role_arn(moto_url)
    lambda_ = boto3.client("lambda", endpoint_url=moto_url, region_name=REGION)
    code = zip_bundle(bundle)
    try:
        reply: dict[str, Any] = lambda_.update_function_code(FunctionName=name, ZipFile=code)
    except lambda_.exceptions.ResourceNotFoundException:
        reply = lambda_.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler",
                                        Code={"ZipFile": code})
    return str(reply["CodeSha256"])


def write_target(folder: Path, function_name: str | None = FUNCTION) -> Path:
    name_line = f"    function_name: {function_name}\n" if function_name else ""
    path = folder / "deployverify.yaml"
    path.write_text(f"name: deployed\nruntime: python3.11\nregion: {REGION}\nfunctions:\n  - name: worker\n"
                    f"    handler: app.handler\n{name_line}bundle:\n  output: bundle\n", encoding="utf-8")
    return path


def target_for(folder: Path) -> Target:
    return load_target(write_target(folder))


def test_same_zip_gives_the_same_code_sha(aws_env: dict[str, str], moto_url: str, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    reported = deploy(moto_url, bundle, "dv-same")
    assert reported == built_code_sha256(bundle, tmp_path / "cache") == code_sha256(zip_bundle(bundle))
    assert deployed_code(target_for(tmp_path), "dv-same").code_sha256 == reported


def test_changed_code_gives_another_code_sha(aws_env: dict[str, str], moto_url: str, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    deploy(moto_url, bundle, "dv-changed")
    make_bundle(bundle, "return {'ok': False}")
    built = built_code_sha256(bundle, tmp_path / "cache")
    assert deployed_code(target_for(tmp_path), "dv-changed").code_sha256 != built


def test_a_function_that_is_not_deployed_is_not_comparable(aws_env: dict[str, str], tmp_path: Path) -> None:
    found = deployed_code(target_for(tmp_path), "dv-never-deployed")
    assert (found.code_sha256, found.reason) == (None, "function `dv-never-deployed` is not deployed")


def test_an_unreachable_endpoint_is_not_comparable(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    session.clear_cache()
    found = deployed_code(target_for(tmp_path), FUNCTION)
    assert found.code_sha256 is None
    assert found.reason.startswith("Lambda is not reachable: EndpointConnectionError")


def test_no_credentials_is_said_without_a_network_call(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert no_aws_reason(target_for(tmp_path)) == "no AWS credentials (environment, profile or role)"


def run_gate(config: Path, report_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "gate", "-c", str(config), "--report-dir",
                           str(report_dir), "-k", "DV104"], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode in (0, 1), done.stderr + done.stdout
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    [check] = [c for c in report["checks"] if c["id"] == "DV104"]
    return dict(check)


@pytest.mark.dv_outcomes("DV104:pass", "DV104:fail")
def test_gate_passes_then_fails_naming_both_hashes(aws_env: dict[str, str], moto_url: str, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    config = write_target(tmp_path)
    deployed = deploy(moto_url, bundle)
    passed = run_gate(config, tmp_path / "report-same", aws_env)
    assert passed["status"] == "pass", passed
    assert f"`{FUNCTION}` runs CodeSha256 {deployed}: the built bundle" in passed["evidence"]

    make_bundle(bundle, "return {'ok': 'changed after deploy'}")
    failed = run_gate(config, tmp_path / "report-changed", aws_env)
    built = built_code_sha256(bundle, tmp_path / "cache")
    assert failed["status"] == "fail"
    assert failed["message"] == (f"deployed `{FUNCTION}` has CodeSha256 `{deployed}` but the built bundle zips to "
                                 f"`{built}`; redeploy")


@pytest.mark.parametrize(("case", "reason"), [
    ("not deployed", "not applicable: function `dv-nowhere` is not deployed"),
    ("no function_name", "not applicable: no functions[].function_name: nothing deployed to compare with"),
    ("no credentials", "not applicable: no AWS credentials (environment, profile or role)"),
])
def test_gate_skips_when_there_is_nothing_to_compare(aws_env: dict[str, str], tmp_path: Path, case: str,
                                                     reason: str) -> None:
    make_bundle(tmp_path / "bundle")
    config = write_target(tmp_path, None if case == "no function_name" else "dv-nowhere")
    env = dict(aws_env)
    if case == "no credentials":
        env["AWS_ACCESS_KEY_ID"] = env["AWS_SECRET_ACCESS_KEY"] = ""
    skipped = run_gate(config, tmp_path / "report", env)
    assert (skipped["status"], skipped["message"]) == ("skip", reason)


def deploy_from_s3(moto_url: str, zip_bytes: bytes, name: str) -> str:
    """Deploy as `sam deploy` does: the zip (packaged by another tool) goes to S3, the function is created from it."""
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name=REGION)
    s3.create_bucket(Bucket="dv-sam-artifacts")
    s3.put_object(Bucket="dv-sam-artifacts", Key=f"{name}/code.zip", Body=zip_bytes)
    role = role_arn(moto_url)
    lambda_ = boto3.client("lambda", endpoint_url=moto_url, region_name=REGION)
    reply = lambda_.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler",
                                    Code={"S3Bucket": "dv-sam-artifacts", "S3Key": f"{name}/code.zip"})
    return str(reply["CodeSha256"])


def other_tool_zip(bundle: Path) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:  # not deployverify's packaging
        for file in sorted(bundle.rglob("*")):
            if file.is_file():
                archive.writestr(zipfile.ZipInfo(str(file.relative_to(bundle)), (2024, 1, 2, 3, 4, 5)),
                                 file.read_bytes())
    return buffer.getvalue()


def test_gate_compares_files_when_another_tool_zipped_the_code(aws_env: dict[str, str], moto_url: str,
                                                               tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    (tmp_path / "deployverify.yaml").write_text(
        write_target(tmp_path, "dv-sam-zipped").read_text(encoding="utf-8"), encoding="utf-8")
    deployed = deploy_from_s3(moto_url, other_tool_zip(bundle), "dv-sam-zipped")
    assert deployed != built_code_sha256(bundle, tmp_path / "cache")
    same = run_gate(tmp_path / "deployverify.yaml", tmp_path / "report-same", aws_env)
    assert same["status"] == "pass", same
    assert any("zipped by another tool" in e and "all 1 files are identical" in e for e in same["evidence"])

    make_bundle(bundle, "return {'ok': 'edited after deploy'}")
    (bundle / "extra.py").write_text("X = 1\n", encoding="utf-8")
    drifted = run_gate(tmp_path / "deployverify.yaml", tmp_path / "report-drift", aws_env)
    assert drifted["status"] == "fail"
    assert "2 file(s) differ: `app.py`, `extra.py` (only built)" in drifted["evidence"]


class _RefusingLambda(http.server.BaseHTTPRequestHandler):
    """A real HTTP endpoint on loopback that answers every Lambda call as AWS does for a role without the permission."""

    def do_GET(self) -> None:  # http.server calls do_<METHOD>
        body = json.dumps({"Type": "User", "Message": "not authorized to perform: lambda:GetFunction"}).encode()
        self.send_response(403)
        self.send_header("x-amzn-ErrorType", "AccessDeniedException")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keeps the test output quiet
        return


@pytest.fixture
def refusing_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RefusingLambda)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_access_denied_leaves_the_question_unanswered(aws_env: dict[str, str], refusing_endpoint: str,
                                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", refusing_endpoint)
    session.clear_cache()
    found = deployed_code(target_for(tmp_path), FUNCTION)
    assert (found.code_sha256, found.unanswered) == (None, True)
    assert "AccessDeniedException" in found.reason


@pytest.mark.parametrize("ci", ["", "true"])
@pytest.mark.parametrize("endpoint", ["refused", "unreachable"])
def test_dv104_fails_in_ci_when_aws_refuses_or_is_unreachable(aws_env: dict[str, str], refusing_endpoint: str,
                                                               tmp_path: Path, endpoint: str, ci: str) -> None:
    """AccessDenied or no answer is a missing prerequisite: a skip on a laptop, a failure in CI, never a quiet pass."""
    make_bundle(tmp_path / "bundle")
    config = write_target(tmp_path)
    url = refusing_endpoint if endpoint == "refused" else f"http://127.0.0.1:{free_port()}"
    check = run_gate(config, tmp_path / "report", {**aws_env, "AWS_ENDPOINT_URL": url, "CI": ci})
    expected = "AccessDeniedException" if endpoint == "refused" else "Lambda is not reachable"
    assert check["status"] == ("fail" if ci else "skip"), check
    assert expected in check["message"]
    assert "is not available" in check["message"]
