"""The probe sees what Lambda sets (gate/probe/run_probe.py, in_sandbox_workers.py, findings.py): placeholder role
credentials (never the host's), region, function name, memory and the function's environment; an import-time AWS call
is a warning naming its call site offline and a real call when the probe may reach AWS; an exec-wrapper script is
checked as a script; an unreached first-party module that fails to import is a warning. Through the real CLI and the
Lambda-like image in Docker; the AWS the probe reaches is a moto server on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from deployverify.gate.probe.findings import ProbeJudgeContext, aws_at_import_finding, judge_handler
from deployverify.gate.probe.imports import BundleIndex
from deployverify.gate.probe.run_probe import OFFLINE_AWS_ENV, cached_probe
from deployverify.gate.probe.selection import select_sandbox
from deployverify.target import load_target
from tests.support.env import TEST_IMAGE, require_docker
from tests.support.gate_run import GateRun, run_gate
from tests.support.moto import moto_server

REPO = Path(__file__).resolve().parents[3]
APPS = REPO / "fixtures" / "sam-apps"
TOOLS = REPO / ".ci-tools" / "bin"
HOST_KEY = "AKIAHOSTKEYNEVERSHOWN"

ENVIRONMENT_APP = f'''import os

EXPECTED = {{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_LAMBDA_FUNCTION_NAME": "score-prod",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "STAGE": "prod"}}
wrong = {{key: os.environ.get(key) for key, value in EXPECTED.items() if os.environ.get(key) != value}}
for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    if not os.environ.get(key) or os.environ[key] == "{HOST_KEY}":
        wrong[key] = "missing or the host's"
if wrong:
    raise RuntimeError(f"the environment is not Lambda's: {{wrong}}")


def handler(event, context):
    return 1
'''


def write_target(folder: Path, app: str, *, handler: str = "app.handler", extra: str = "") -> Path:
    bundle = folder / "bundle"
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "app.py").write_text(app, encoding="utf-8")
    target = folder / "deployverify.yaml"
    target.write_text(f"name: probe-env\nruntime: python3.11\nregion: eu-west-1\nfunctions:\n"
                      f"  - name: Score\n    handler: {handler}\n    function_name: score-prod\n    memory_mb: 512\n"
                      f"    environment: {{STAGE: prod{extra}}}\nbundle:\n  output: bundle\n", encoding="utf-8")
    return target


def gate(target: Path, out: Path, keyword: str) -> GateRun:
    return run_gate(["-c", str(target), "--image", TEST_IMAGE, "-k", keyword], out,
                    env={"AWS_ACCESS_KEY_ID": HOST_KEY, "AWS_SECRET_ACCESS_KEY": "host-secret"}, timeout_s=600)


def init_and_gate(app: str, tmp_path: Path, keyword: str) -> GateRun:
    folder = tmp_path / app
    shutil.copytree(APPS / app, folder, ignore=shutil.ignore_patterns("expected.yaml"))
    env = {**os.environ, "PATH": os.pathsep.join((str(TOOLS), str(Path(sys.executable).parent), os.environ["PATH"]))}
    subprocess.run([sys.executable, "-m", "deployverify.cli", "init"], cwd=folder, env=env, check=True,
                   capture_output=True, timeout=60)
    return run_gate(["-c", str(folder / "deployverify.yaml"), "--image", TEST_IMAGE, "-k", keyword],
                    tmp_path / "out", env={"PATH": env["PATH"]}, timeout_s=600)


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV211:pass", "DV211:fail")
def test_the_probe_sees_lambdas_variables_and_placeholder_credentials(tmp_path: Path) -> None:
    require_docker()
    run = gate(write_target(tmp_path / "ok", ENVIRONMENT_APP), tmp_path / "out", "DV211")
    assert run.status("DV211") == "pass", run.output[-3000:]
    # The same module fails when a variable differs from what Lambda sets: the assertion above is real.
    wrong = write_target(tmp_path / "wrong", ENVIRONMENT_APP.replace('"STAGE": "prod"', '"STAGE": "dev"'))
    run = gate(wrong, tmp_path / "out-wrong", "DV211")
    assert run.status("DV211") == "fail"
    assert "the environment is not Lambda's: {'STAGE': 'prod'}" in run.message("DV211")
    assert HOST_KEY not in run.output


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV211:pass", "DV220:pass")
def test_an_import_time_aws_call_is_a_warning_naming_its_call_site(tmp_path: Path) -> None:
    require_docker()
    run = init_and_gate("import-time-aws", tmp_path, "DV211 or DV212 or DV220")
    assert run.status("DV211") == "pass", run.output[-3000:]
    assert run.status("DV220") == "pass"
    assert run.status("DV212") == "pass"  # not "blocked by DV211": init stopped at the call, which is not timed
    assert "init stopped at a call to AWS the offline probe cannot make" in run.evidence("DV212")
    (warning,) = run.findings("DV211", "warning")
    assert warning["message"].startswith("handler `app.handler` needs AWS at import: verified up to app.py:14 "
                                         "(`CONFIG = json.loads(ssm.get_parameter(")
    assert "EndpointConnectionError" in warning["message"]
    (module_warning,) = run.findings("DV220", "warning")
    assert module_warning["message"].startswith("`app` needs AWS at import: verified up to app.py:14")


@pytest.mark.slow
def test_where_the_probe_may_reach_aws_the_import_time_call_is_made(tmp_path: Path) -> None:
    require_docker()
    shutil.copytree(APPS / "import-time-aws" / "src", tmp_path / "bundle")
    target_file = tmp_path / "deployverify.yaml"
    target_file.write_text("name: online\nruntime: python3.11\nregion: us-east-1\nfunctions:\n"
                           "  - name: Score\n    handler: app.handler\n"
                           "    environment: {STAGE: prod, CONFIG_PARAMETER: /score/config}\n"
                           "bundle:\n  output: bundle\n", encoding="utf-8")
    target = load_target(target_file, env={})
    selection = select_sandbox(target, image=TEST_IMAGE, pull=False)
    index = BundleIndex.from_bundle(tmp_path / "bundle")
    ctx = ProbeJudgeContext(index=index, source_roots=(), python="3.11", aws_reachable=True)
    with moto_server() as endpoint:
        credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_ENDPOINT_URL": endpoint}
        ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        # Without the parameter the real call fails, and with access to AWS that is a failure, not a warning.
        missing = cached_probe(target, tmp_path / "bundle", (), selection, tmp_path / "cache", aws_env=credentials)
        (record,) = missing.handlers
        assert "ParameterNotFound" in record["message"]
        assert judge_handler(record, ctx) is not None
        ssm.put_parameter(Name="/score/config", Value='{"threshold": 3}', Type="String")
        found = cached_probe(target, tmp_path / "bundle", (), selection, tmp_path / "cache", aws_env=credentials)
    (record,) = found.handlers
    assert record["ok"], record
    assert aws_at_import_finding(record, ctx, "DV211", "handler") is None
    assert OFFLINE_AWS_ENV["AWS_ACCESS_KEY_ID"] not in str(found.report)


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV211:fail")
def test_an_exec_wrapper_script_is_checked_as_a_script(tmp_path: Path) -> None:
    require_docker()
    run = init_and_gate("exec-wrapper-script", tmp_path, "DV102 or DV211")
    assert run.status("DV211") == "pass", run.output[-3000:]
    assert run.status("DV102") == "pass"
    script = tmp_path / "exec-wrapper-script" / "src" / "run.sh"
    script.chmod(0o644)
    (tmp_path / "exec-wrapper-script" / "template.yaml").write_text(
        (tmp_path / "exec-wrapper-script" / "template.yaml").read_text().replace(
            "      Layers:\n        - !Ref AdapterLayer\n", ""))
    shutil.rmtree(tmp_path / "out")
    run = init_and_gate_again(tmp_path / "exec-wrapper-script", tmp_path / "out", "DV211")
    assert run.status("DV211") == "fail"
    message = run.message("DV211")
    assert "handler script `run.sh` is not executable (mode 644)" in message
    assert "AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap but no declared layer provides it (layers: none)" in message


def init_and_gate_again(folder: Path, out: Path, keyword: str) -> GateRun:
    env = {**os.environ, "PATH": os.pathsep.join((str(TOOLS), str(Path(sys.executable).parent), os.environ["PATH"]))}
    subprocess.run([sys.executable, "-m", "deployverify.cli", "init", "--force"], cwd=folder, env=env, check=True,
                   capture_output=True, timeout=60)
    return run_gate(["-c", str(folder / "deployverify.yaml"), "--image", TEST_IMAGE, "-k", keyword], out,
                    env={"PATH": env["PATH"]}, timeout_s=600)


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV220:pass", "DV222:pass")
def test_an_unreached_first_party_module_that_fails_is_a_warning_naming_it(tmp_path: Path) -> None:
    require_docker()
    run = init_and_gate("unreached-missing-optional", tmp_path, "DV220 or DV222")
    assert run.status("DV220") == "pass", run.output[-3000:]
    assert run.status("DV222") == "pass"
    (warning,) = run.findings("DV220", "warning")
    assert warning["message"].startswith("`reports.pdf` fails to import but no handler reaches it: "
                                         "ModuleNotFoundError: No module named 'reportlab'")
    (static,) = run.findings("DV222", "warning")
    assert static["message"].endswith("no handler reaches `reports.pdf`, so this is not a failure")
