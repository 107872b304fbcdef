"""Cleanup when a smoke run is cut short: SIGINT and SIGTERM mid-pipeline, the database connection killed halfway,
the AWS endpoint gone halfway, and trigger messages that reach the DLQ after their run ended. Afterwards every row,
object and message the runs created is gone, removed by the run itself or swept (and said) by the next one.
Each test prints its leftover figures before asserting them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from deployverify.core.waits import wait_for
from tests.suites.test_smoke_suite import command, environment, smoke, stack
from tests.support import smoke_env
from tests.support.smoke_env import Resources, ScriptedWorker

pytest_plugins = ("tests.support.smoke_fixtures",)
pytestmark = [pytest.mark.postgres, pytest.mark.slow]
RUN_TAG = "deployverify-run-id"


def leftovers(resources: Resources) -> dict[str, int]:
    """Everything a harness run could have left in this test's stack, counted."""
    with resources.database.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM documents WHERE run_id LIKE %s", (f"dv-test-{resources.prefix}%",))
        documents = int(cur.fetchone()[0])
        cur.execute("SELECT count(*) FROM users WHERE email = %s", (f"{resources.prefix}@test.com",))
        users = int(cur.fetchone()[0])
    found = {"rows": documents, "users": users,
             "objects": int(resources.client("s3").list_objects_v2(Bucket=resources.bucket).get("KeyCount", 0))}
    sqs = resources.client("sqs")
    for name, url in (("queued", resources.queue_url), ("dead-lettered", resources.dlq_url)):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        found[name] = int(attributes["ApproximateNumberOfMessages"]) + \
            int(attributes["ApproximateNumberOfMessagesNotVisible"])
    return found


def started(resources: Resources, tmp_path: Path, target: Path, run_id: str, *extra: str,
            env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    # Its own process group, as a terminal or a CI runner signals it.
    return subprocess.Popen(command("smoke", target, tmp_path / run_id, run_id, "-k", "DV5", *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or environment(resources, tmp_path), start_new_session=True)


def wait_until_pushed(resources: Resources, run_id: str) -> None:
    """Until the run's first document is all the way in: row, object and trigger message."""
    def pushed() -> tuple[bool, int]:
        with resources.database.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM documents WHERE run_id = %s", (run_id,))
            count = int(cur.fetchone()[0])
        keys = resources.client("s3").list_objects_v2(Bucket=resources.bucket, Prefix=f"deployverify/{run_id}/")
        return count >= 1 and keys.get("KeyCount", 0) >= 1, count

    assert wait_for("the run's first document", 90, pushed, announce=False).done


def finish(process: subprocess.Popen[str], timeout_s: float = 180) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def sweeping_run(resources: Resources, tmp_path: Path, target: Path, name: str) -> Any:
    """The next run, with a sweep threshold of 0 s (everything earlier is "earlier than the threshold")."""
    os.environ["DV_SWEEP_AFTER_S"] = "0"
    try:
        return smoke(resources, tmp_path, target, "-k", "DV52", name=name)
    finally:
        del os.environ["DV_SWEEP_AFTER_S"]


@pytest.mark.parametrize(("number", "workers"), [(signal.SIGINT, ()), (signal.SIGTERM, ()),
                                                 (signal.SIGTERM, ("-n", "2"))],
                         ids=["SIGINT", "SIGTERM", "SIGTERM-xdist"])
def test_a_signal_mid_pipeline_removes_everything(resources: Resources, tmp_path: Path, number: signal.Signals,
                                                  workers: tuple[str, ...]) -> None:
    with stack(resources, tmp_path, None) as target:
        run_id = f"dv-test-{resources.prefix}-{number.name}"
        process = started(resources, tmp_path, target, run_id, *workers)
        wait_until_pushed(resources, run_id)
        os.killpg(process.pid, number)
        _, stderr = finish(process)
        left = leftovers(resources)
    print(f"{number.name} {' '.join(workers)}: exit {process.returncode}, leftovers {left}")
    assert process.returncode != 0
    assert "Traceback" not in stderr
    assert left == dict.fromkeys(left, 0)


def test_a_killed_database_connection_is_cleaned_up_or_swept(resources: Resources, tmp_path: Path) -> None:
    with stack(resources, tmp_path, None) as target:
        target.write_text(target.read_text().replace("timeout_s: 20", "timeout_s: 8"))
        run_id = f"dv-test-{resources.prefix}-killed-db"
        process = started(resources, tmp_path, target, run_id)
        wait_until_pushed(resources, run_id)
        with resources.database.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            killed = int(cur.fetchone()[0])
        finish(process)
        after_run = leftovers(resources)
        with ScriptedWorker(resources, smoke_env.correct):  # settles any trigger the run could not take back
            following = sweeping_run(resources, tmp_path, target, "following")
            assert wait_for("the queue to drain", 30, lambda: (leftovers(resources)["queued"] == 0, None),
                            announce=False).done
        left = leftovers(resources)
    print(f"killed {killed} connection(s); leftovers after the run {after_run}, after the next run {left}")
    assert killed >= 1
    assert process.returncode != 0
    assert left == dict.fromkeys(left, 0)
    if after_run["rows"] or after_run["objects"]:
        assert "swept" in following.stderr


@contextmanager
def second_endpoint(port: int = 0) -> Iterator[ThreadedMotoServer]:
    """Another moto server on loopback. Every moto server of this process shares one in-memory state, so the stack
    the session's server created is visible here, and stopping this one makes the endpoint vanish for whoever
    uses it while the state stays."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_vanished_endpoint_leaves_what_the_next_run_sweeps_and_reports(resources: Resources,
                                                                         tmp_path: Path) -> None:
    with stack(resources, tmp_path, None) as target:
        target.write_text(target.read_text().replace("timeout_s: 20", "timeout_s: 6"))
        run_id = f"dv-test-{resources.prefix}-vanished"
        with second_endpoint() as server:
            _, port = server.get_host_and_port()
            env = {**environment(resources, tmp_path), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
            process = started(resources, tmp_path, target, run_id, env=env)
            wait_until_pushed(resources, run_id)
        began = time.monotonic()
        _, stderr = finish(process)
        ended_s = time.monotonic() - began
        after_run = leftovers(resources)
        with ScriptedWorker(resources, smoke_env.correct):
            following = sweeping_run(resources, tmp_path, target, "following")
            assert wait_for("the queue to drain", 30, lambda: (leftovers(resources)["queued"] == 0, None),
                            announce=False).done
        left = leftovers(resources)
    print(f"endpoint gone: the run ended {ended_s:.0f}s later (exit {process.returncode}); leftovers after it "
          f"{after_run}, after the next run {left}")
    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert after_run["objects"] >= 1  # the run could not reach S3 to remove its object...
    assert "swept 1 object(s) left by earlier run(s)" in following.stderr  # ...the next one did, and said so
    assert any("swept 1 object(s)" in line for line in following.check("DV520")["evidence"])
    assert left == dict.fromkeys(left, 0)


def test_tagged_messages_dead_lettered_after_their_run_are_swept_and_others_are_left(resources: Resources,
                                                                                     tmp_path: Path) -> None:
    with stack(resources, tmp_path, smoke_env.correct) as target:
        sqs = resources.client("sqs")
        earlier = f"dv-test-{resources.prefix}-earlier"
        # What a worker that kept failing leaves: the earlier run's trigger, dead-lettered after maxReceiveCount,
        # its tag (the message attribute) kept by the redrive.
        sqs.send_message(QueueUrl=resources.dlq_url, MessageBody=json.dumps({"document_id": 1, "run_id": earlier}),
                         MessageGroupId="g", MessageDeduplicationId="earlier",
                         MessageAttributes={RUN_TAG: {"DataType": "String", "StringValue": earlier}})
        only_ours = sweeping_run(resources, tmp_path, target, "only-ours")
        sqs.send_message(QueueUrl=resources.dlq_url, MessageBody='{"document_id": 7, "note": "not ours"}',
                         MessageGroupId="g", MessageDeduplicationId="not-ours")
        foreign = sweeping_run(resources, tmp_path, target, "foreign")
        left = leftovers(resources)
    print(f"tagged DLQ message: DV520 {only_ours.status('DV520')}, DV521 {only_ours.status('DV521')}; "
          f"untagged: DV520 {foreign.status('DV520')}; left in the DLQ {left['dead-lettered']}")
    assert (only_ours.status("DV520"), only_ours.status("DV521")) == ("pass", "pass")
    assert f"earlier run(s) swept: {earlier}" in only_ours.check("DV520")["evidence"]
    assert "swept 1 DLQ message(s) left by earlier run(s)" in only_ours.stderr
    assert foreign.status("DV520") == "fail"
    assert "holds 1 message(s) before the run" in foreign.message("DV520")
    assert left["dead-lettered"] == 1  # the message the harness did not create is untouched


def test_the_sweep_takes_only_what_the_harness_tagged(resources: Resources, tmp_path: Path) -> None:
    """Rows and objects an earlier run left are swept; a row nobody tagged, or tagged by something other than the
    harness, and an object outside the harness's run folders are left exactly as they were."""
    with stack(resources, tmp_path, smoke_env.correct) as target:
        earlier = f"dv-test-{resources.prefix}-crashed"
        s3 = resources.client("s3")
        for key in (f"deployverify/{earlier}/x.pdf", "deployverify/manual/keep.pdf", "elsewhere/keep.pdf"):
            s3.put_object(Bucket=resources.bucket, Key=key, Body=b"%PDF")
        with resources.database.connect() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO users (email, run_id) VALUES (%s, %s) RETURNING id",
                        (f"left-{resources.prefix}@test.com", earlier))
            user = cur.fetchone()[0]
            for run_id in (earlier, None, f"manual-{resources.prefix}"):
                cur.execute("INSERT INTO documents (user_id, s3_key, run_id) VALUES (%s, %s, %s)",
                            (user if run_id == earlier else None, f"k-{resources.prefix}", run_id))
        following = sweeping_run(resources, tmp_path, target, "following")
        with resources.database.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT run_id FROM documents WHERE s3_key = %s ORDER BY run_id", (f"k-{resources.prefix}",))
            kept_rows = [r[0] for r in cur.fetchall()]
            cur.execute("SELECT count(*) FROM users WHERE email = %s", (f"left-{resources.prefix}@test.com",))
            users = int(cur.fetchone()[0])
            cur.execute("DELETE FROM documents WHERE s3_key = %s", (f"k-{resources.prefix}",))
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=resources.bucket).get("Contents", []))
        for key in keys:
            s3.delete_object(Bucket=resources.bucket, Key=key)
    evidence = following.check("DV520")["evidence"]
    print(f"swept: {[line for line in evidence if line.startswith('swept')]}; kept rows {kept_rows}, objects {keys}")
    assert kept_rows == [f"manual-{resources.prefix}", None]
    assert users == 0
    assert keys == ["deployverify/manual/keep.pdf", "elsewhere/keep.pdf"]
    assert "swept 1 object(s) left by earlier run(s) (tagged over 0s ago)" in evidence
    assert "swept 1 row(s) of `documents` left by earlier run(s) (tagged over 0s ago)" in evidence
    assert "swept 1 row(s) of `users` left by earlier run(s) (tagged over 0s ago)" in evidence
