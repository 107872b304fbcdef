"""End to end through the local stack, with the real CLI: `deployverify local up`, `deployverify smoke --local`,
`deployverify local down`, for the example worker and each of the four incident variants deployed in its place.

The example passes every check with every fixture document processed as expected; each incident fails with its
cause named; after every run (passed or failed) the database, the bucket and the queues hold nothing it created; no
value of the database secret (the embedded Postgres's generated password among them) reaches any output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psycopg2
import pytest

from deployverify.local import procs
from fixtures.incidents.materialize import EXAMPLE_DIR, REPO_ROOT, materialize
from tests.support.env import TEST_IMAGE, require_docker
from tests.support.report_view import ReportChecks

pytestmark = [pytest.mark.docker, pytest.mark.slow]
TIMEOUT_S = 900
IMPORT_ERROR = "Runtime.ImportModuleError: Unable to import module 'process_document_lambda': No module named "


@dataclass
class Local:
    env: dict[str, str]
    root: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deployverify.cli", *args], capture_output=True, text=True,
                              env=self.env, timeout=TIMEOUT_S, check=False, cwd=self.root)

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((Path(self.env["DV_CACHE_DIR"]) / "local" / "state.json").read_text())
        return state


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    require_docker()
    root = tmp_path_factory.mktemp("local-e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DV_"))}
    env.update(DV_CACHE_DIR=str(root / "cache"), DV_IMAGE=TEST_IMAGE, DV_LOCAL_MOTO_PORT=str(procs.free_port()),
               DV_LOCAL_DATABASE_URL="", DV_LOCAL_RETRY_DELAY_S="1")
    stack = Local(env, root)
    try:
        yield stack
    finally:
        stack.cli("local", "down")


def copy_of(variant: str | None, dest: Path) -> Path:
    """The example (or an incident variant of it) in a folder of its own, its target file pointing at the repository's
    fixtures: each build writes its own bundle."""
    if variant is None:
        shutil.copytree(EXAMPLE_DIR, dest, ignore=shutil.ignore_patterns("build", "__pycache__"))
    else:
        materialize(variant, dest)
    target = dest / "deployverify.yaml"
    target.write_text(target.read_text().replace("../../fixtures/", f"{REPO_ROOT}/fixtures/"))
    return target


@dataclass
class Smoke(ReportChecks):
    report: dict[str, Any]
    output: str
    run_id: str


def deploy(local: Local, variant: str | None) -> Path:
    target = copy_of(variant, local.root / (variant or "example"))
    local.cli("local", "down")
    up = local.cli("local", "up", "-c", str(target), "--require-image")
    assert up.returncode == 0, up.stderr
    return target


def smoke(local: Local, target: Path, name: str, *extra: str) -> Smoke:
    folder = local.root / f"report-{name}"
    run_id = f"dv-e2e-{name.replace('_', '-')}"
    done = local.cli("smoke", "-c", str(target), "--local", "--report-dir", str(folder), "--run-id", run_id, *extra)
    assert (folder / "report.json").exists(), done.stdout + done.stderr
    files = "".join(p.read_text(errors="replace") for p in folder.iterdir() if p.is_file())
    result = Smoke(json.loads((folder / "report.json").read_text()), files + done.stdout + done.stderr, run_id)
    assert_nothing_left(local, run_id)
    assert_no_secret_shown(local, result)
    return result


def deploy_and_smoke(local: Local, variant: str) -> Smoke:
    return smoke(local, deploy(local, variant), variant)


def assert_nothing_left(local: Local, run_id: str) -> None:
    __tracebackhide__ = True
    state = local.state()
    conn = state["database"]["connection"]
    with psycopg2.connect(host=conn["host"], port=conn["port"], user=conn["username"], password=conn["password"],
                          dbname=conn["database"]) as db, db.cursor() as cur:
        cur.execute("SELECT count(*) FROM documents WHERE run_id = %s", (run_id,))
        documents = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM users WHERE run_id = %s", (run_id,))
        users = cur.fetchone()[0]
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=state["region"])
    s3 = session.client("s3", endpoint_url=state["endpoint"])
    sqs = session.client("sqs", endpoint_url=state["endpoint"])
    objects = sum(s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
                  for bucket in state["resources"]["buckets"].values())
    queued = {}
    for queue in state["resources"]["queues"].values():
        attributes = sqs.get_queue_attributes(QueueUrl=queue["url"], AttributeNames=["All"])["Attributes"]
        queued[queue["name"]] = int(attributes["ApproximateNumberOfMessages"]) + \
            int(attributes["ApproximateNumberOfMessagesNotVisible"])
    assert (documents, users, objects, queued) == (0, 0, 0, dict.fromkeys(queued, 0))


def assert_no_secret_shown(local: Local, smoke: Smoke) -> None:
    __tracebackhide__ = True
    password = local.state()["database"]["connection"]["password"]
    assert len(password) >= 16  # the embedded Postgres's generated password
    assert password not in smoke.output


def test_example_passes_every_check_with_every_document_processed(local: Local) -> None:
    target = deploy(local, None)
    serial = smoke(local, target, "example")
    parallel = smoke(local, target, "example-n2", "-n", "2")

    for run in (serial, parallel):
        failed = {c["id"]: c["message"] for c in run.report["checks"] if c["status"] != "pass"}
        assert failed == {}
        assert len(run.report["checks"]) == 18  # DV002, DV4xx, DV5xx, DV60x
        evidence = "\n".join(run.check("DV502")["evidence"])
        for document, kind in (("cme_certificate.pdf", "cme_certificate"), ("medical_license.pdf", "medical_license"),
                               ("dea_registration.pdf", "dea_registration"), ("unrecognised.pdf", "unknown")):
            assert f"`{document}`: type `{kind}`" in evidence
        assert "Database connection established" in "\n".join(run.check("DV510")["evidence"])


def test_mock_stub_never_reaches_a_real_result(local: Local) -> None:
    smoke = deploy_and_smoke(local, "mock_stub")

    assert smoke.status("DV501") == "fail"
    assert "ended without error, but the row is still `uploaded`" in smoke.message("DV501")
    assert smoke.status("DV510") == "fail"
    assert "never logged `Classified as:`" in smoke.message("DV510")


def test_secret_key_mismatch_is_named(local: Local) -> None:
    smoke = deploy_and_smoke(local, "secret_key_mismatch")

    assert smoke.status("DV403") == "fail"
    # The secret's name shows as `***/dev/database`: its user name, "docworker", is a secret value and is masked.
    assert smoke.message("DV403").startswith("code reads `dbname` at db.py:62 but secret `")
    assert "/dev/database` has `database`, `host`, `password`, `port`, `sslmode`, `username`; read `database` or " \
           "add the key" in smoke.message("DV403")
    assert smoke.status("DV410") == "fail"
    assert smoke.status("DV501") == "fail"
    assert 'database "None" does not exist' in smoke.message("DV501")


@pytest.mark.parametrize(("variant", "missing"), [("import_path", "'worker_tasks'"),
                                                  ("missing_shared_module", "'shared.storage'")])
def test_import_failures_are_named_from_the_logs(local: Local, variant: str, missing: str) -> None:
    smoke = deploy_and_smoke(local, variant)

    assert smoke.status("DV511") == "fail"
    # `/aws/lambda/***-dev-worker`: "docworker" is also the secret's user name, so it is masked wherever it appears.
    assert smoke.message("DV511").startswith(f"`{IMPORT_ERROR}{missing}` in `/aws/lambda/")
    assert smoke.status("DV501") == "fail"
    assert f"the worker cannot load its handler: {IMPORT_ERROR}{missing}" in smoke.message("DV501")
