"""`deployverify dlq show|redrive` against a real moto server, run as a subprocess so it can really be killed.

The kill is SIGKILL from inside the redrive at a seeded step (DV_REDRIVE_KILL_AT=step:n): no finally block, no
flush, exactly what an OOM kill or a lost CI runner does. The re-run must then move every message exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployverify.pipeline.redrive import ORIGIN_ATTRIBUTE, STAGES
from tests.support.moto import moto_server
from tests.support.smoke_env import CREDENTIALS, REGION, aws_client

PARKED = 23  # more than two receive batches, not a multiple of ten


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


class Queues:
    def __init__(self, endpoint: str, name: str) -> None:
        self.endpoint = endpoint
        self.sqs = aws_client("sqs", endpoint)
        self.dlq = self.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        self.source = self.sqs.create_queue(QueueName=f"{name}-jobs")["QueueUrl"]
        self.bodies = {}
        for n in range(PARKED):
            body = json.dumps({"document_id": f"doc-{n}", "run_id": name})
            self.bodies[self.sqs.send_message(QueueUrl=self.dlq, MessageBody=body)["MessageId"]] = body

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every message in the queue (taken for good: the test is over)."""
        taken = []
        while messages := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300,
                                                   MessageAttributeNames=["All"]).get("Messages", []):
            taken += messages
        return taken

    def cli(self, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION,
               "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
               "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"]}
        env.pop("DV_REDRIVE_KILL_AT", None)
        if kill_at:
            env["DV_REDRIVE_KILL_AT"] = kill_at
        return subprocess.run([sys.executable, "-m", "deployverify.cli", "dlq", *args, "--dlq", self.dlq],
                              env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def queues(endpoint: str, request: pytest.FixtureRequest) -> Queues:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)[-60:]
    return Queues(endpoint, name)


def moved_exactly_once(queues: Queues) -> None:
    copies = queues.drain(queues.source)
    origins = [m["MessageAttributes"][ORIGIN_ATTRIBUTE]["StringValue"] for m in copies]
    assert sorted(origins) == sorted(queues.bodies), "a message was lost or moved twice"
    assert all(m["Body"] == queues.bodies[o] for m, o in zip(copies, origins, strict=True))
    assert queues.drain(queues.dlq) == []


@pytest.mark.parametrize("stage", STAGES)
def test_a_redrive_killed_midway_then_run_again_moves_every_message_once(queues: Queues, tmp_path: Path,
                                                                         stage: str) -> None:
    journal = tmp_path / "redrive.jsonl"
    killed = queues.cli("redrive", "--to", queues.source, "--journal", str(journal), "--method", "manual",
                        kill_at=f"{stage}:12")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert journal.exists()
    again = queues.cli("redrive", "--to", queues.source, "--journal", str(journal))
    assert again.returncode == 0, again.stderr
    assert not journal.exists(), "a finished redrive leaves no journal behind"
    moved_exactly_once(queues)


def test_auto_falls_back_to_receive_send_delete_where_there_is_no_move_task(queues: Queues, tmp_path: Path) -> None:
    done = queues.cli("redrive", "--to", queues.source, "--journal", str(tmp_path / "j.jsonl"))
    assert done.returncode == 0, done.stderr
    assert "receive -> send -> delete" in done.stdout
    assert f"{PARKED} moved" in done.stdout
    moved_exactly_once(queues)


def test_max_and_dry_run_move_only_what_they_say(queues: Queues, tmp_path: Path) -> None:
    dry = queues.cli("redrive", "--to", queues.source, "--dry-run")
    assert dry.returncode == 0
    assert f"dry run: {PARKED} message(s) would move" in dry.stdout
    assert queues.drain(queues.source) == []
    some = queues.cli("redrive", "--to", queues.source, "--max", "5", "--journal", str(tmp_path / "j.jsonl"))
    assert some.returncode == 0, some.stderr
    assert "5 moved" in some.stdout
    assert len(queues.drain(queues.source)) == 5


def test_show_lists_each_parked_message_with_its_document(queues: Queues) -> None:
    shown = queues.cli("show")
    assert shown.returncode == 0, shown.stderr
    assert f"{PARKED} message(s) parked" in shown.stdout
    for message_id in queues.bodies:
        assert message_id in shown.stdout
    assert "document doc-0 " in shown.stdout
    assert "received 1x" in shown.stdout
    assert len(queues.drain(queues.dlq)) == PARKED, "show takes nothing away"


def test_a_missing_queue_is_an_input_error(queues: Queues) -> None:
    done = queues.cli("redrive", "--to", "no-such-queue")
    assert done.returncode == 2
    assert "no-such-queue" in done.stderr
