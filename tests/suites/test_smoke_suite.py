"""`deployverify smoke` and `canary` through the real CLI, in a subprocess, against a moto server, the real Postgres
and a scripted worker: each check's bad fixture fails it with its cause named, the healthy run passes, no secret
value reaches any output, and nothing the run created is left behind, after a pass, a failure or a Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployverify.core.waits import wait_for
from fixtures.incidents.materialize import materialize
from tests.support import smoke_env
from tests.support.report_view import ReportChecks
from tests.support.smoke_env import Behaviour, Resources, ScriptedWorker

pytest_plugins = ("tests.support.smoke_fixtures",)
pytestmark = [pytest.mark.postgres, pytest.mark.slow]
RUN_TIMEOUT_S = 300


@dataclass
class SmokeSession(ReportChecks):
    code: int
    report: dict[str, Any]
    stdout: str
    stderr: str
    folder: Path
    run_id: str

    def outputs(self) -> str:
        files = "".join(p.read_text(errors="replace") for p in self.folder.iterdir() if p.is_file())
        return files + self.stdout + self.stderr


def environment(resources: Resources, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=resources.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION=smoke_env.REGION, DV_CACHE_DIR=str(tmp_path / "cache"))
    return env


def command(mode: str, target: Path, folder: Path, run_id: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "deployverify.cli", mode, "-c", str(target), "--report-dir", str(folder),
            "--run-id", run_id, *extra]


def smoke(resources: Resources, tmp_path: Path, target: Path, *extra: str, mode: str = "smoke",
          name: str = "run") -> SmokeSession:
    folder = tmp_path / name
    run_id = f"dv-test-{resources.prefix}-{name}"
    done = subprocess.run(command(mode, target, folder, run_id, *extra), capture_output=True, text=True,
                          env=environment(resources, tmp_path), timeout=RUN_TIMEOUT_S, check=False)
    report_file = folder / "report.json"
    assert report_file.exists(), f"no report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    return SmokeSession(done.returncode, json.loads(report_file.read_text()), done.stdout, done.stderr, folder, run_id)


def assert_nothing_left(resources: Resources, run_id: str, email: str) -> None:
    __tracebackhide__ = True
    with resources.database.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM documents WHERE run_id = %s", (run_id,))
        documents = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM users WHERE run_id = %s OR email = %s", (run_id, email))
        users = cur.fetchone()[0]
    objects = resources.client("s3").list_objects_v2(Bucket=resources.bucket).get("KeyCount", 0)
    sqs = resources.client("sqs")
    queued = {}
    for url in (resources.queue_url, resources.dlq_url):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        queued[url.rsplit("/", 1)[-1]] = int(attributes["ApproximateNumberOfMessages"]) + \
            int(attributes["ApproximateNumberOfMessagesNotVisible"])
    assert (documents, users, objects, queued) == (0, 0, 0, dict.fromkeys(queued, 0))


@contextmanager
def stack(resources: Resources, tmp_path: Path, behaviour: Behaviour | None, *, bundle_source: Path | None = None,
          **changes: Any) -> Iterator[Path]:
    """Create the resources, deploy the bundle, write the target; run the scripted worker while the test runs."""
    bundle = smoke_env.small_bundle(tmp_path / "bundle", bundle_source or smoke_env.EXAMPLE)
    resources.create(bundle=bundle)
    target = resources.target(tmp_path, bundle, **changes)
    if behaviour is None:
        yield target
        return
    with ScriptedWorker(resources, behaviour):
        yield target


def email(resources: Resources) -> str:
    return f"{resources.prefix}@test.com"


# -- the healthy run ---------------------------------------------------------------------------------------------------


@pytest.mark.dv_outcomes("DV002:pass", "DV401:pass", "DV402:pass", "DV403:pass", "DV410:pass", "DV411:pass",
                         "DV412:pass", "DV420:pass", "DV501:pass", "DV502:pass", "DV510:pass", "DV511:pass",
                         "DV512:pass", "DV520:pass", "DV521:pass", "DV601:pass", "DV602:pass", "DV603:pass")
def test_healthy_run_passes_and_leaves_nothing(resources: Resources, tmp_path: Path) -> None:
    resources.secret_value["api_token"] = "tok-6b1f93c0aa7e"  # a value that must never be shown
    with stack(resources, tmp_path, smoke_env.correct) as target:
        run = smoke(resources, tmp_path, target)

    assert run.code == 0, run.stdout + run.stderr
    statuses = {c["id"]: c["status"] for c in run.report["checks"]}
    assert statuses == dict.fromkeys(
        ["DV002", "DV401", "DV402", "DV403", "DV410", "DV411", "DV412", "DV420", "DV501", "DV502", "DV510", "DV511",
         "DV512", "DV520", "DV521", "DV601", "DV602", "DV603"], "pass")
    assert "DV610" not in statuses  # canary checks are deselected outside canary mode
    assert any("invocation" in line for line in run.check("DV510")["evidence"])
    assert_nothing_left(resources, run.run_id, email(resources))
    outputs = run.outputs()
    for value in ("tok-6b1f93c0aa7e", resources.database.name):
        assert value not in outputs


def test_parallel_run_gives_one_result_per_check_and_cleans_up(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, smoke_env.correct) as target:
        run = smoke(resources, tmp_path, target, "-n", "2")

    assert run.code == 0, run.stdout + run.stderr
    ids = [c["id"] for c in run.report["checks"]]
    assert len(ids) == len(set(ids)) == 18
    assert len([e for e in run.check("DV501")["evidence"] if e.startswith("document ")]) == 4
    assert len([e for e in run.check("DV501")["evidence"] if e.startswith("trip of document ")]) == 4  # timelines
    assert_nothing_left(resources, run.run_id, email(resources))


# -- secrets, database, seed -------------------------------------------------------------------------------------------


@pytest.mark.dv_outcomes("DV403:fail", "DV410:fail")
def test_secret_key_mismatch_variant_fails_naming_dbname_and_database(resources: Resources, tmp_path: Path) -> None:
    variant = materialize("secret_key_mismatch", tmp_path / "variant")
    with stack(resources, tmp_path, smoke_env.correct, bundle_source=variant) as target:
        run = smoke(resources, tmp_path, target, "-k", "DV40 or DV41")

    assert run.code == 1
    assert run.status("DV402") == "pass"  # the secret itself is fine: `database` is a declared spelling
    message = run.message("DV403")
    assert run.status("DV403") == "fail"
    assert message.startswith("code reads `dbname` at db.py:62 but secret")
    assert "has `database`, `host`, `password`, `port`, `sslmode`, `username`; read `database`" in message
    assert run.status("DV410") == "fail"
    assert "`dbname`" in run.message("DV410")


def test_a_wrong_password_fails_the_connection_and_is_never_shown(resources: Resources, tmp_path: Path) -> None:
    resources.secret_value["password"] = "pw-Wr0ng-5d2e8c1b"
    with stack(resources, tmp_path, None) as target:
        run = smoke(resources, tmp_path, target, "-k", "DV4", "-v")

    assert run.status("DV401") == "pass"
    assert run.status("DV410") == "fail"
    assert "password authentication failed" in run.message("DV410")
    assert run.status("DV420") == "skip"  # blocked by DV410
    assert "pw-Wr0ng-5d2e8c1b" not in run.outputs()


@pytest.mark.dv_outcomes("DV402:fail")
@pytest.mark.parametrize(("secret", "check_id", "expected"), [
    ({"database": None, "name": "x"}, "DV402", "lacks `database` (accepted spellings: `dbname`, `db_name`); keys "
                                               "present: `host`, `name`, `password`, `port`, `sslmode`, `username`"),
    ({"port": "5432"}, "DV402", "has `port` as a string, the schema says an integer"),
])
def test_secret_schema_problems(resources: Resources, tmp_path: Path, secret: dict[str, Any], check_id: str,
                                expected: str) -> None:
    for key, value in secret.items():
        if value is None:
            resources.secret_value.pop(key)
        else:
            resources.secret_value[key] = value
    with stack(resources, tmp_path, None) as target:
        run = smoke(resources, tmp_path, target, "-k", "DV40")

    assert run.status(check_id) == "fail"
    assert expected in run.message(check_id)


@pytest.mark.dv_outcomes("DV401:fail")
def test_a_missing_secret_fails_dv401(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, None) as target:
        resources.client("secretsmanager").delete_secret(SecretId=resources.secret_id, ForceDeleteWithoutRecovery=True)
        run = smoke(resources, tmp_path, target, "-k", "DV40")

    assert run.status("DV401") == "fail"
    assert "ResourceNotFoundException" in run.message("DV401")
    assert run.status("DV402") == "skip"


@pytest.mark.dv_outcomes("DV411:fail")
def test_a_missing_status_table_fails_dv411(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, None) as target:
        text = target.read_text().replace("trigger:", "status_table: documents_v2\n  trigger:")
        target.write_text(text)
        run = smoke(resources, tmp_path, target, "-k", "DV411")

    assert run.status("DV411") == "fail"
    assert run.message("DV411") == "table `documents_v2` lacks the table itself (no such table); apply the schema " \
                                   "migrations"


@pytest.mark.dv_outcomes("DV412:fail")
def test_reserved_concurrency_beyond_free_connections_fails_dv412(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, None) as target:
        target.write_text(target.read_text().replace("reserved_concurrency: 10", "reserved_concurrency: 5000"))
        run = smoke(resources, tmp_path, target, "-k", "DV412")

    assert run.status("DV412") == "fail"
    assert "may open 5000 more (reserved concurrency)" in run.message("DV412")


@pytest.mark.dv_outcomes("DV420:fail")
def test_a_seed_that_cannot_run_fails_dv420(resources: Resources, tmp_path: Path) -> None:
    bad = tmp_path / "bad_seed.sql"
    bad.write_text("INSERT INTO users (email, no_such_column) VALUES (%(email)s, 1);")
    with stack(resources, tmp_path, None) as target:
        target.write_text(target.read_text().replace(str(smoke_env.REPO / "fixtures/seed/test_user.sql"), str(bad)))
        run = smoke(resources, tmp_path, target, "-k", "DV420")

    assert run.status("DV420") == "fail"
    assert 'column "no_such_column" of relation "users" does not exist' in run.message("DV420")


# -- pipeline, logs, DLQ -----------------------------------------------------------------------------------------------


@pytest.mark.dv_outcomes("DV501:fail", "DV510:fail")
def test_the_mock_incident_never_reaches_a_real_result(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, smoke_env.mock) as target:
        run = smoke(resources, tmp_path, target, "-k", "DV5")

    assert run.code == 1
    assert run.status("DV501") == "fail"
    assert "is `uploaded` after" in run.message("DV501")
    assert "ended without error, but the row is still `uploaded`" in run.message("DV501")
    assert run.status("DV502") == "skip"
    assert run.status("DV510") == "fail"
    assert "never logged `Classified as:`" in run.message("DV510")
    assert_nothing_left(resources, run.run_id, email(resources))


@pytest.mark.dv_outcomes("DV502:fail")
def test_a_processed_row_without_results_fails_dv502(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, smoke_env.empty_processed) as target:
        run = smoke(resources, tmp_path, target, "-k", "DV50")

    assert run.status("DV501") == "pass"
    assert run.status("DV502") == "fail"
    assert "`cme_certificate.pdf` is `processed` with no classification and no extracted fields; a processed row " \
           "without real output is the mock incident's signature" in run.message("DV502")


@pytest.mark.dv_outcomes("DV511:fail")
def test_an_import_error_is_named_from_the_logs(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, smoke_env.import_error) as target:
        run = smoke(resources, tmp_path, target, "-k", "DV5")

    error = "Runtime.ImportModuleError: Unable to import module 'process_document_lambda': No module named " \
            "'worker_tasks'"
    assert run.status("DV501") == "fail"
    assert error in run.message("DV501")
    assert run.status("DV511") == "fail"
    assert run.message("DV511").startswith(f"`{error}` in `{resources.log_group}`")
    assert_nothing_left(resources, run.run_id, email(resources))


@pytest.mark.dv_outcomes("DV512:fail")
def test_a_slow_invocation_fails_dv512(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, smoke_env.slow) as target:
        run = smoke(resources, tmp_path, target, "-k", "DV512")

    assert run.status("DV512") == "fail"
    assert "took 75000 ms (limit 60000 ms)" in run.message("DV512")


def test_a_traceback_in_the_logs_fails_dv511(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, smoke_env.traceback_then_ok) as target:
        run = smoke(resources, tmp_path, target, "-k", "DV511")

    assert run.status("DV511") == "fail"
    assert "Traceback (most recent call last):" in run.message("DV511")


@pytest.mark.dv_outcomes("DV520:fail", "DV521:fail")
def test_dlq_messages_before_the_run_fail_dv520_and_are_left_alone(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, smoke_env.correct) as target:
        sqs = resources.client("sqs")
        sqs.send_message(QueueUrl=resources.dlq_url, MessageBody='{"document_id": 7, "note": "not ours"}',
                         MessageGroupId="g", MessageDeduplicationId="not-ours")
        run = smoke(resources, tmp_path, target, "-k", "DV52")

    assert run.status("DV520") == "fail"
    assert "holds 1 message(s) before the run" in run.message("DV520")
    assert any('"note": "not ours"' in line for line in run.check("DV520")["evidence"])
    assert run.status("DV521") == "fail"
    assert "(1 were there before the run)" in run.message("DV521")
    assert sqs.get_queue_attributes(QueueUrl=resources.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_a_failing_worker_dead_letters_and_the_run_removes_its_messages(resources: Resources,
                                                                        tmp_path: Path) -> None:
    with stack(resources, tmp_path, smoke_env.crash) as target:
        target.write_text(target.read_text().replace("timeout_s: 20", "timeout_s: 4"))
        run = smoke(resources, tmp_path, target, "-k", "DV52 or DV501")

    assert run.status("DV501") == "fail"
    assert run.status("DV521") == "fail"
    assert "after the run; the worker failed them" in run.message("DV521")
    assert_nothing_left(resources, run.run_id, email(resources))


def test_no_worker_times_out_with_status_and_depths_and_cleans_up(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, None) as target:
        target.write_text(target.read_text().replace("timeout_s: 20", "timeout_s: 2"))
        run = smoke(resources, tmp_path, target, "-k", "DV501")

    assert run.status("DV501") == "fail"
    assert "is `uploaded` after 2." in run.message("DV501")
    assert "(expected `processed`); queue 1 visible, DLQ 0 visible; nothing consumed the trigger" in \
        run.message("DV501")
    assert_nothing_left(resources, run.run_id, email(resources))


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_ctrl_c_mid_run_still_removes_everything(resources: Resources, tmp_path: Path,
                                                 workers: tuple[str, ...]) -> None:
    with stack(resources, tmp_path, None) as target:
        run_id = f"dv-test-{resources.prefix}-interrupted"
        # Its own process group, which is what a terminal's Ctrl-C signals: the CLI and every xdist worker.
        process = subprocess.Popen(command("smoke", target, tmp_path / "interrupted", run_id, "-k", "DV5", *workers),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=environment(resources, tmp_path), start_new_session=True)
        try:
            def pushed() -> tuple[bool, int]:
                with resources.database.connect() as conn, conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM documents WHERE run_id = %s", (run_id,))
                    count = int(cur.fetchone()[0])
                return count >= (2 if workers else 1), count

            assert wait_for("the interrupted run's document rows", 60, pushed, announce=False).done
            os.killpg(process.pid, signal.SIGINT)
            process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    assert_nothing_left(resources, run_id, email(resources))


# -- the deployed function ---------------------------------------------------------------------------------------------


@pytest.mark.dv_outcomes("DV602:fail", "DV603:fail")
def test_deployed_configuration_and_code_mismatches(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, None) as target:
        lam = resources.client("lambda")
        lam.update_function_configuration(FunctionName=resources.function, MemorySize=512,
                                          Environment={"Variables": {**resources.environment, "EXTRA": "1"}})
        (tmp_path / "bundle" / "added.py").write_text("X = 1\n")  # the built bundle is no longer what runs
        run = smoke(resources, tmp_path, target, "-k", "DV60")

    assert run.status("DV601") == "pass"
    assert run.status("DV602") == "fail"
    assert run.message("DV602").startswith(f"function `{resources.function}` has memory (MB) `512`, the template "
                                           "says `1024`; redeploy; also environment keys (extra EXTRA)")
    assert run.status("DV603") == "fail"
    assert "but the built bundle zips to" in run.message("DV603")


@pytest.mark.dv_outcomes("DV601:fail")
def test_a_missing_function_fails_dv601(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, None) as target:
        resources.client("lambda").delete_function(FunctionName=resources.function)
        run = smoke(resources, tmp_path, target, "-k", "DV60")

    assert run.status("DV601") == "fail"
    assert "is not deployed: ResourceNotFoundException" in run.message("DV601")
    assert (run.status("DV602"), run.status("DV603")) == ("skip", "skip")


# -- canary ------------------------------------------------------------------------------------------------------------


@pytest.mark.dv_outcomes("DV610:pass", "DV610:fail", "DV611:pass", "DV611:fail")
def test_canary_passes_when_quiet_and_fails_on_errors_and_a_stuck_message(resources: Resources,
                                                                         tmp_path: Path) -> None:
    with stack(resources, tmp_path, None) as target:
        quiet = smoke(resources, tmp_path, target, "-k", "DV61", mode="canary", name="quiet")
        resources.client("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=[
            {"MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": resources.function}],
             "Value": 3, "Unit": "Count"}])
        resources.client("sqs").send_message(QueueUrl=resources.queue_url, MessageBody='{"document_id": 1}',
                                             MessageGroupId="stuck", MessageDeduplicationId="stuck")
        target.write_text(target.read_text().replace("max_queue_age_s: 900", "max_queue_age_s: 1"))
        time.sleep(2.5)  # the message must be older than the 1 s limit; not a timing assertion
        loud = smoke(resources, tmp_path, target, "-k", "DV61", mode="canary", name="loud")

    assert (quiet.status("DV610"), quiet.status("DV611")) == ("pass", "pass")
    assert loud.status("DV610") == "fail"
    assert loud.message("DV610") == f"`{resources.function}` reported 3 error(s) and 0 throttle(s) in the last 10 min"
    assert loud.status("DV611") == "fail"
    assert "(limit 1s); the worker is not consuming" in loud.message("DV611")
