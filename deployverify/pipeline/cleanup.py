"""Removing what a smoke run left behind, found by its run id and nothing else.

A document's own row and object go as soon as its trip ends (trip.remove_document). What is left is removed here
by the last process to leave the run: objects under `<key_prefix>/<run id>/` (a crash between upload and removal),
trigger messages the worker never settled (in the queue or the DLQ), rows tagged with the run id and the seeded
test user. Each step runs whatever the others did, and a failed step is reported, not raised: a cleanup problem
must not hide the run's results.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import psycopg2
from botocore.exceptions import BotoCoreError, ClientError
from psycopg2.extensions import connection as Connection

from deployverify.aws.clients import AwsClients
from deployverify.core import redact
from deployverify.core.errors import DeployVerifyError
from deployverify.pipeline import db, dlq, rows, seed, verdicts
from deployverify.pipeline.records import DocumentOutcome
from deployverify.target.model import Pipeline, Target

QUEUE_SWEEP_MAX_S = 60.0  # how long the last process waits for trigger messages the worker still holds


def say(text: str) -> None:
    print(f"deployverify: {redact.redact(text)}", file=sys.stderr, flush=True)


def remove_run_objects(s3: Any, bucket: str, prefix: str, run_id: str) -> int:
    """Delete every object under `<prefix>/<run id>/`: only this run writes there."""
    removed = 0
    run_prefix = f"{prefix.strip('/')}/{run_id}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=run_prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            removed += len(keys)
    return removed


def remove_run_rows(conn: Connection, pipeline: Pipeline, run_id: str) -> int:
    return rows.delete_run_rows(conn, pipeline.status_table, run_id)


def remove_run_leftovers(run_id: str, outcomes: Callable[[], list[DocumentOutcome]], target: Target,
                         aws: AwsClients, plan: db.ConnectionPlan | Exception) -> None:
    """Run by the last process of the run: every trace of the run, found by its run id, and nothing else.
    `outcomes` gives every document's outcome (their trigger message ids tell the sweep what to wait for)."""
    steps: list[tuple[str, Callable[[], object]]] = []
    pipe = target.pipeline
    if pipe is not None:
        steps.append((f"objects under s3://{pipe.bucket}/{pipe.key_prefix}/{run_id}/",
                      lambda: remove_run_objects(aws.client("s3"), pipe.bucket, pipe.key_prefix, run_id)))
        steps.append(("trigger and DLQ messages", lambda: remove_run_messages(run_id, outcomes(), target, aws)))
    if not isinstance(plan, Exception):
        steps.append(("database rows tagged with the run id", lambda: remove_run_database_rows(target, plan, run_id)))
    for what, step in steps:
        try:
            step()
        except (ClientError, BotoCoreError, psycopg2.Error, OSError, DeployVerifyError) as exc:
            say(f"cleanup of {what} failed: {type(exc).__name__}: {exc}")


def remove_run_messages(run_id: str, outcomes: list[DocumentOutcome], target: Target, aws: AwsClients) -> None:
    assert target.pipeline is not None
    urls = [u for u in (dlq.find_queue_url(aws.sqs, target.pipeline.trigger.queue),
                        dlq.find_queue_url(aws.sqs, target.dlq)) if u]
    if not urls:
        return
    # Triggers the worker never settled may come back (retry) or move to the DLQ: wait for them, within reason.
    pending = verdicts.unfinished_message_ids(outcomes)
    timeout = min(QUEUE_SWEEP_MAX_S, max(dlq.visibility_timeout(aws.sqs, u) for u in urls) + 5) if pending else 0
    sweep = dlq.remove_run_messages(aws.sqs, urls, run_id, pending, timeout_s=timeout)
    if sweep.unreached:
        say(f"{len(sweep.unreached)} trigger message(s) of run {run_id} are still held by the worker "
            f"({', '.join(sweep.unreached)}); they will end in the DLQ: delete them there")


def remove_run_database_rows(target: Target, plan: db.ConnectionPlan, run_id: str) -> None:
    """The run's document rows first, then its seeded user: the foreign key from documents to users allows no
    other order, and a user that still owns documents (not this run's, those are gone) is kept."""
    conn = db.connect(plan)
    try:
        pipe = target.pipeline
        if pipe is not None and db.table_columns(conn, pipe.status_table):
            remove_run_rows(conn, pipe, run_id)
        if target.seed is not None:
            owner = None
            if pipe is not None:
                tables = seed.seeded_tables(seed.seed_script(target.seed))
                owner = next((c for t in tables if (c := db.foreign_key_to(conn, pipe.status_table, t))), None)
            seed.remove_run_rows(conn, target.seed, run_id, guard_table=pipe.status_table if pipe and owner else None,
                                 guard_column=owner)
    finally:
        conn.close()
