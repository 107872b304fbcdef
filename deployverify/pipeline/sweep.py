"""Sweeping what earlier runs left behind when their own cleanup could not reach it.

A run's cleanup (`cleanup.py`) removes everything tagged with its run id, but it cannot reach what it cannot talk
to: the database connection was killed, the AWS endpoint vanished, the process got SIGKILL, or a trigger message
was still held by a failing worker and reached the DLQ only after maxReceiveCount. So each run, once, before it
pushes anything, removes what the harness tagged (run id column, `<key_prefix>/<run id>/` object prefix, the
`deployverify-run-id` message attribute) for another run *earlier than a threshold*. The threshold keeps a run from
touching a concurrent run's documents; it defaults to an hour (far beyond a run's budget) and `DV_SWEEP_AFTER_S`
overrides it. A message without the harness's tag is never touched: it is someone else's evidence. The trigger
queue is not swept: receiving there would count toward a concurrent run's maxReceiveCount, and a stale trigger either
reaches the worker (which settles it) or the DLQ (swept here by a later run).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from botocore.exceptions import BotoCoreError, ClientError
from psycopg2 import sql

from deployverify.aws.clients import AwsClients
from deployverify.core.errors import DeployVerifyError
from deployverify.pipeline import db, dlq, rows, seed
from deployverify.pipeline.trip import RUN_METADATA
from deployverify.target.model import Target

DEFAULT_SWEEP_AFTER_S = 3600.0
RUN_ID_PREFIX = "dv-"  # every run id the harness makes (and every id a test passes) starts with it


def sweep_after_s() -> float:
    raw = os.environ.get("DV_SWEEP_AFTER_S")
    if raw is None:
        return DEFAULT_SWEEP_AFTER_S
    try:
        value = float(raw)
    except ValueError:
        raise DeployVerifyError(f"DV_SWEEP_AFTER_S is {raw!r}, not a number of seconds",
                                where="DV_SWEEP_AFTER_S") from None
    if value < 0:
        raise DeployVerifyError(f"DV_SWEEP_AFTER_S is {raw!r}; give 0 or more seconds", where="DV_SWEEP_AFTER_S")
    return value


@dataclass
class SweepReport:
    """What the sweep removed, per place, and what it could not look at; plain data for the run's store."""

    removed: dict[str, int] = field(default_factory=dict)
    runs: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def lines(self, threshold_s: float) -> list[str]:
        found = [f"swept {n} {what} left by earlier run(s) (tagged over {threshold_s:.0f}s ago)"
                 for what, n in self.removed.items() if n]
        if found:
            found.append(f"earlier run(s) swept: {', '.join(sorted(self.runs))}")
        return found + [f"sweep of {p}" for p in self.problems]

    def to_json(self, threshold_s: float) -> dict[str, Any]:
        return {"removed": dict(self.removed), "runs": sorted(self.runs), "problems": list(self.problems),
                "lines": self.lines(threshold_s), "dlq_messages": self.removed.get("DLQ message(s)", 0)}


def _older(ms: int | None, cutoff_ms: int) -> bool:
    return ms is not None and ms <= cutoff_ms


def sweep_objects(s3: Any, bucket: str, prefix: str, run_id: str, cutoff_ms: int, report: SweepReport) -> None:
    root = f"{prefix.strip('/')}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root + RUN_ID_PREFIX):
        stale = []
        for item in page.get("Contents", []):
            owner = str(item["Key"])[len(root):].split("/", 1)[0]
            modified_ms = int(item["LastModified"].timestamp() * 1000)
            if owner != run_id and _older(modified_ms, cutoff_ms):
                stale.append({"Key": item["Key"]})
                report.runs.add(owner)
        if stale:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": stale, "Quiet": True})
            report.removed["object(s)"] = report.removed.get("object(s)", 0) + len(stale)


def _is_stale(message: dict[str, Any], run_id: str, cutoff_ms: int) -> str | None:
    """The earlier run's id when the harness tagged this message for another run before the cutoff, else None."""
    tag = message.get("MessageAttributes", {}).get(RUN_METADATA, {}).get("StringValue")
    sent = message.get("Attributes", {}).get("SentTimestamp")
    if tag and tag != run_id and _older(int(sent) if sent else None, cutoff_ms):
        return str(tag)
    return None


def sweep_messages(sqs: Any, url: str, what: str, run_id: str, cutoff_ms: int, report: SweepReport) -> None:
    """Delete tagged messages of earlier runs. Every other message stays hidden until the pass ends (so the next
    receive shows new ones) and is then released at once, untouched."""
    kept: list[str] = []
    try:
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                           WaitTimeSeconds=0, AttributeNames=["All"],
                                           MessageAttributeNames=["All"]).get("Messages", [])
            if not messages:
                return
            for message in messages:
                earlier = _is_stale(message, run_id, cutoff_ms)
                if earlier is None:
                    kept.append(message["ReceiptHandle"])
                    continue
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                report.removed[what] = report.removed.get(what, 0) + 1
                report.runs.add(earlier)
    finally:
        for handle in kept:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)


def sweep_rows(target: Target, plan: db.ConnectionPlan, run_id: str, threshold_s: float,
               report: SweepReport) -> None:
    """Rows tagged with another run id and created before the threshold; documents first (they own users)."""
    conn = db.connect(plan)
    try:
        tables = [target.pipeline.status_table] if target.pipeline else []
        if target.seed is not None:
            tables += list(reversed(seed.seeded_tables(seed.seed_script(target.seed))))
        for table in dict.fromkeys(tables):
            columns = db.table_columns(conn, table) or set()
            if rows.RUN_COLUMN not in columns or "created_at" not in columns:
                continue  # without a creation time there is no telling an old run's row from a concurrent one's
            query = sql.SQL("DELETE FROM {} AS t WHERE t.{} IS NOT NULL AND t.{} <> %s AND t.{} LIKE %s "
                            "AND t.created_at < now() - make_interval(secs => %s)").format(
                rows.table_identifier(table), *(sql.Identifier(rows.RUN_COLUMN) for _ in range(3)))
            args: list[Any] = [run_id, RUN_ID_PREFIX + "%", threshold_s]
            pipe = target.pipeline
            owner = db.foreign_key_to(conn, pipe.status_table, table) if pipe and table != pipe.status_table \
                else None
            if pipe is not None and owner and "id" in columns:
                query += sql.SQL(" AND NOT EXISTS (SELECT 1 FROM {} AS d WHERE d.{} = t.id)").format(
                    rows.table_identifier(pipe.status_table), sql.Identifier(owner))
            query += sql.SQL(" RETURNING t.{}").format(sql.Identifier(rows.RUN_COLUMN))
            with conn.cursor() as cur:
                cur.execute(query, args)
                gone = [str(r[0]) for r in cur.fetchall()]
            if gone:
                report.removed[f"row(s) of `{table}`"] = len(gone)
                report.runs.update(gone)
    finally:
        conn.close()


def sweep_earlier_runs(run_id: str, target: Target, aws: AwsClients,
                       plan: db.ConnectionPlan | Exception) -> dict[str, Any]:
    """Remove what earlier runs tagged and left; every step runs whatever the others did, a failure is reported."""
    threshold_s = sweep_after_s()
    cutoff_ms = int((time.time() - threshold_s) * 1000)
    report = SweepReport()
    steps: list[tuple[str, Callable[[], None]]] = []
    pipe = target.pipeline
    if pipe is not None:
        steps.append((f"s3://{pipe.bucket}/{pipe.key_prefix}/", lambda: sweep_objects(
            aws.client("s3"), pipe.bucket, pipe.key_prefix, run_id, cutoff_ms, report)))
    if target.dlq:
        dead = target.dlq
        steps.append((f"DLQ `{dead}`", lambda: _sweep_queue(aws, dead, "DLQ message(s)", run_id, cutoff_ms, report)))
    if not isinstance(plan, Exception):
        steps.append(("database rows", lambda: sweep_rows(target, plan, run_id, threshold_s, report)))
    for where, step in steps:
        try:
            step()
        except (ClientError, BotoCoreError, psycopg2.Error, OSError, DeployVerifyError) as exc:
            report.problems.append(f"{where} failed: {type(exc).__name__}: {exc}")
    return report.to_json(threshold_s)


def _sweep_queue(aws: AwsClients, queue: str, what: str, run_id: str, cutoff_ms: int, report: SweepReport) -> None:
    url = dlq.find_queue_url(aws.sqs, queue)
    if url is not None:
        sweep_messages(aws.sqs, url, what, run_id, cutoff_ms, report)
