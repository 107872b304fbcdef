"""The pipeline engine against a moto server, the real Postgres and a scripted worker: push, wait, evidence, cleanup.

Each worker behaviour is a fixture that must make the engine report a specific failure: the mock incident (the row
never moves), a processed row without results, an import error, a slow invocation, no worker at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from deployverify.pipeline import cleanup, dlq, logs, rows, seed, trip, verdicts
from deployverify.pipeline.records import DocumentOutcome
from deployverify.target import Target, load_target
from tests.support import smoke_env
from tests.support.smoke_env import Resources, ScriptedWorker

pytest_plugins = ("tests.support.smoke_fixtures",)

RUN = "dv-20260101000000-pipe01"


@pytest.fixture
def target(resources: Resources, tmp_path: Path) -> Target:
    resources.create(with_function=False)
    bundle = smoke_env.small_bundle(tmp_path / "bundle")
    return load_target(resources.target(tmp_path, bundle))


@pytest.fixture
def context(target: Target, resources: Resources) -> Iterator[trip.TripContext]:
    conn = resources.database.connect()
    assert target.seed is not None
    assert target.pipeline is not None
    user = seed.run_seed(conn, target.seed, RUN)
    clients = trip.Clients(s3=resources.client("s3"), sqs=resources.client("sqs"),
                               lambda_=resources.client("lambda"), logs=resources.client("logs"))
    yield trip.TripContext(target=target, pipeline=replace(target.pipeline, timeout_s=15), run_id=RUN,
                           clients=clients, conn=conn, user_id=user.id,
                           layout=rows.row_layout(conn, target.pipeline, user.table),
                           queue_url=resources.queue_url, dlq_url=resources.dlq_url)
    seed.remove_run_rows(conn, target.seed, RUN)
    conn.close()


@pytest.fixture
def ctx(context: trip.TripContext) -> trip.TripContext:
    return context


def run(ctx: trip.TripContext, resources: Resources, behaviour: smoke_env.Behaviour,
        index: int = 0) -> DocumentOutcome:
    key = rows.document_keys(ctx.pipeline)[index]
    with ScriptedWorker(resources, behaviour):
        return trip.run_document(ctx, key, ctx.pipeline.documents[index])


def rows_of_run(context: trip.TripContext) -> int:
    with context.conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM documents WHERE run_id = %s", (RUN,))
        return int(cur.fetchone()[0])


def objects_of_run(context: trip.TripContext) -> list[str]:
    listed = context.clients.s3.list_objects_v2(Bucket=context.pipeline.bucket, Prefix=f"deployverify/{RUN}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_a_correct_worker_gives_a_real_result_and_leaves_nothing(ctx: trip.TripContext, resources: Resources) -> None:
    outcome = run(ctx, resources, smoke_env.correct)

    assert outcome.reached, outcome
    assert verdicts.result_problems(outcome, ctx.pipeline.documents[0].expect) == []
    assert outcome.logs.invocations
    assert outcome.logs.invocations[0].duration_ms == 120.0
    assert any(f"Processing document {outcome.document_id}" in line for line in outcome.logs.invocations[0].lines)
    assert outcome.consumed
    assert (rows_of_run(ctx), objects_of_run(ctx)) == (0, [])
    assert RUN in (outcome.pushed.object_key or "")


def test_the_trigger_is_a_fifo_message_with_group_and_dedup_id(ctx: trip.TripContext) -> None:
    pushed = trip.push(ctx, ctx.pipeline.documents[0])
    try:
        assert pushed.error is None
        message = ctx.clients.sqs.receive_message(QueueUrl=ctx.queue_url, AttributeNames=["All"],
                                                  MessageAttributeNames=["All"])["Messages"][0]
    finally:
        assert trip.remove_document(ctx, pushed) is None
    assert json.loads(message["Body"]) == {"document_id": pushed.document_id, "run_id": RUN}
    assert message["Attributes"]["MessageGroupId"] == f"{RUN}-{pushed.document_id}"
    assert message["Attributes"]["MessageDeduplicationId"] == f"{RUN}-{pushed.document_id}"
    assert message["MessageAttributes"][trip.RUN_METADATA]["StringValue"] == RUN


def test_the_mock_incident_never_moves_the_row(ctx: trip.TripContext, resources: Resources) -> None:
    outcome = run(ctx, resources, smoke_env.mock)

    assert not outcome.reached
    assert outcome.row.status == "uploaded"
    assert not outcome.row.timed_out  # stopped as soon as the clean invocation ended with the row untouched
    assert "ended without error, but the row is still `uploaded`" in (outcome.row.stopped or "")
    assert outcome.consumed  # SQS deleted the message: nothing is left to sweep
    assert verdicts.unfinished_message_ids([outcome]) == []


def test_a_processed_row_without_results_is_the_mock_signature(ctx: trip.TripContext, resources: Resources) -> None:
    outcome = run(ctx, resources, smoke_env.empty_processed)

    assert outcome.reached
    assert verdicts.result_problems(outcome, ctx.pipeline.documents[0].expect) == [
        "is `processed` with no classification and no extracted fields"]


def test_wrong_fields_and_low_confidence_are_quoted(ctx: trip.TripContext, resources: Resources) -> None:
    outcome = run(ctx, resources, smoke_env.wrong_field)

    problems = verdicts.result_problems(outcome, ctx.pipeline.documents[0].expect)
    assert "has confidence 0.40, below 0.9" in problems
    assert "has `name` = `Somebody Else`, expected `Dr. Jane Real`" in problems


def test_an_import_error_stops_the_wait_and_names_the_error(ctx: trip.TripContext, resources: Resources) -> None:
    outcome = run(ctx, resources, smoke_env.import_error)

    assert not outcome.reached
    assert outcome.row.stopped == ("the worker cannot load its handler: Runtime.ImportModuleError: Unable to import "
                               "module 'process_document_lambda': No module named 'worker_tasks'")
    assert outcome.logs.init_errors[0].startswith("Runtime.ImportModuleError")
    assert outcome.pushed.message_id in verdicts.unfinished_message_ids([outcome])


def test_without_a_worker_the_timeout_reports_status_and_queue_depths(ctx: trip.TripContext) -> None:
    short = replace(ctx, pipeline=replace(ctx.pipeline, timeout_s=1.5))
    document = short.pipeline.documents[0]
    outcome = trip.run_document(short, "cme", document)

    assert outcome.row.timed_out
    assert outcome.row.status == "uploaded"
    assert outcome.row.queue_depth == "1 visible"
    assert outcome.row.dlq_depth == "0 visible"
    assert "nothing consumed the trigger" in verdicts.not_reached_fix(outcome)
    sweep = dlq.remove_run_messages(short.clients.sqs, [short.queue_url or ""], RUN,
                                    verdicts.unfinished_message_ids([outcome]))
    assert sweep.deleted == [outcome.pushed.message_id]
    assert sweep.unreached == []


def test_a_crashing_worker_dead_letters_the_message_and_the_sweep_finds_it(ctx: trip.TripContext,
                                                                           resources: Resources) -> None:
    with ScriptedWorker(resources, smoke_env.crash):
        outcome = trip.run_document(ctx, "cme", ctx.pipeline.documents[0])
        assert not outcome.row.timed_out
        assert outcome.row.stopped == ("every delivery failed and SQS moved the trigger to the DLQ; the worker logged "
                                   f"`OperationalError: connection failed [document {outcome.document_id}]`")
        assert f"OperationalError: connection failed [document {outcome.document_id}]" in outcome.logs.problems
        foreign = ctx.clients.sqs.send_message(QueueUrl=resources.dlq_url, MessageBody='{"document_id": 1}',
                                               MessageGroupId="other", MessageDeduplicationId="other")["MessageId"]
        sweep = dlq.remove_run_messages(ctx.clients.sqs, [resources.queue_url, resources.dlq_url], RUN,
                                        verdicts.unfinished_message_ids([outcome]), timeout_s=20)
    assert outcome.pushed.message_id in sweep.deleted
    left = dlq.sample(ctx.clients.sqs, resources.dlq_url)
    assert [m.message_id for m in left] == [foreign]


def test_a_slow_invocation_is_reported_with_its_duration(ctx: trip.TripContext, resources: Resources) -> None:
    outcome = run(ctx, resources, smoke_env.slow)
    assert [i.duration_ms for i in outcome.logs.invocations] == [75000.0]


def test_run_objects_are_removed_by_prefix_only(ctx: trip.TripContext) -> None:
    s3 = ctx.clients.s3
    for key in (f"deployverify/{RUN}/a.pdf", f"deployverify/{RUN}/b/c.pdf", "deployverify/dv-other-run/a.pdf",
                "user-uploads/x.pdf"):
        s3.put_object(Bucket=ctx.pipeline.bucket, Key=key, Body=b"%PDF")

    assert cleanup.remove_run_objects(s3, ctx.pipeline.bucket, "deployverify", RUN) == 2
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=ctx.pipeline.bucket)["Contents"])
    assert left == ["deployverify/dv-other-run/a.pdf", "user-uploads/x.pdf"]


def test_message_template_keeps_a_lone_document_id_an_integer() -> None:
    template = {"document_id": "{document_id}", "run_id": "{run_id}", "note": "doc {document_id} of {run_id}",
                "keep": "{unknown}", "nested": [{"k": "{key}"}]}
    assert trip._message(template, {"document_id": 42, "run_id": "r", "key": "a/b"}) == {
        "document_id": 42, "run_id": "r", "note": "doc 42 of r", "keep": "{unknown}", "nested": [{"k": "a/b"}]}


# -- log parsing -------------------------------------------------------------------------------------------------------


REQUEST = "8f5d0c1e-1111-2222-3333-444455556666"
OTHER = "9a9a9a9a-1111-2222-3333-444455556666"
LINES = [
    ("s1", "INIT_START Runtime Version: python:3.11"),
    ("s1", f"START RequestId: {REQUEST} Version: $LATEST"),
    ("s1", f"[INFO]\t2026-01-01T00:00:00.000Z\t{REQUEST}\tProcessing document 42 (run dv-x)"),
    ("s2", f"START RequestId: {OTHER} Version: $LATEST"),
    ("s2", f"[INFO]\t2026-01-01T00:00:00.000Z\t{OTHER}\tProcessing document 420"),
    ("s1", f"[INFO]\t2026-01-01T00:00:00.000Z\t{REQUEST}\tClassified as: cme_certificate (0.95) [document 42]"),
    ("s1", f"END RequestId: {REQUEST}"),
    ("s1", f"REPORT RequestId: {REQUEST}\tDuration: 812.50 ms\tBilled Duration: 813 ms\tMemory Size: 1024 MB\t"
           "Max Memory Used: 101 MB\tInit Duration: 402.10 ms"),
    ("s2", f"END RequestId: {OTHER}"),
]


def test_invocations_are_split_by_request_and_found_by_document_id() -> None:
    lines = [logs.LogLine(i, stream, text) for i, (stream, text) in enumerate(LINES)]
    invocations, outside = logs.split(lines)
    view = logs.LogView("/aws/lambda/w", lines, invocations, outside)

    found = view.for_document(42)
    assert [i.request_id for i in found] == [REQUEST]
    assert found[0].report == logs.Report(REQUEST, 812.5, 813, 1024, 101, 402.1)
    assert [i.request_id for i in view.for_document(420)] == [OTHER]
    assert [line.text for line in outside] == ["INIT_START Runtime Version: python:3.11"]


@pytest.mark.parametrize(("text", "document_id", "matches"), [
    ("Processing document 42 (run x)", 42, True),
    ("Downloaded file from S3: 10 bytes [document 42]", 42, True),
    ('{"document_id": 42, "run_id": "x"}', 42, True),
    ("document_id=42", 42, True),
    ("Processing document 420", 42, False),
    ("Processing document 4", 42, False),
])
def test_document_pattern(text: str, document_id: int, matches: bool) -> None:
    assert bool(logs.document_pattern(document_id).search(text)) is matches


@pytest.mark.parametrize(("text", "problem"), [
    ("[ERROR] Runtime.ImportModuleError: Unable to import module 'h': No module named 'x'", True),
    ("Traceback (most recent call last):", True),
    ("2026-01-01T00:00:00.000Z abc Task timed out after 3.00 seconds", True),
    ("[INFO] Runtime is fine", False),
])
def test_problem_lines(text: str, problem: bool) -> None:
    assert bool(logs.problems([logs.LogLine(0, "s", text)])) is problem
