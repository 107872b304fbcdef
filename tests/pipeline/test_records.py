"""The trip's stage records: immutable, and unchanged by the JSON round trip the processes of a run share them by.

Also the once-per-run scheduling of document trips on a real run store folder (no AWS needed: the trip is a
stand-in that records who made it).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from deployverify.core.run_store import RunStore
from deployverify.pipeline import records, verdicts
from deployverify.pipeline.records import DocumentOutcome, InvocationEvidence, LogsCollected, Pushed, RowWaited, Timings
from deployverify.pipeline.schedule import DocumentTrips, SharedSmokeRun, read_outcomes
from deployverify.run_context import RunContext
from deployverify.target.model import Bundle, Document, Expectation, Function, Pipeline, Target

REQUEST = "8f5d0c1e-1111-2222-3333-444455556666"

PROCESSED = DocumentOutcome(
    key="cme.pdf", file="/fixtures/cme.pdf", expected_status="processed",
    pushed=Pushed(document_id=42, object_key="deployverify/dv-run/ab12cd34-cme.pdf", message_id="m-1",
                  pushed_ms=1_767_225_600_000),
    row=RowWaited(status="processed", document_type="cme_certificate", confidence=0.95,
                  fields={"name": "Dr. Jane Real", "credits": 12.5, "nested": {"ok": True}}, waited_s=1.25),
    logs=LogsCollected(group="/aws/lambda/worker", tail=("END RequestId: x",),
                       invocations=(InvocationEvidence(request_id=REQUEST, lines=("Processing document 42",),
                                                       duration_ms=812.5, init_ms=402.1, max_memory_mb=101),)),
    timings=Timings(push_s=0.1, wait_s=1.3, logs_s=0.2, total_s=1.7))

NEVER_SENT = DocumentOutcome(
    key="cme.pdf#2", file="/fixtures/cme.pdf", expected_status="processed",
    pushed=Pushed(document_id=43, error="AccessDenied: s3:PutObject"), row=RowWaited(), logs=LogsCollected(),
    timings=Timings(total_s=0.05), cleanup_error="row 43: OperationalError: gone")

MOCK_INCIDENT = DocumentOutcome(
    key="lab.pdf", file="/fixtures/lab.pdf", expected_status="processed",
    pushed=Pushed(document_id=44, object_key="k", message_id="m-3", pushed_ms=1),
    row=RowWaited(status="uploaded", waited_s=2.0, stopped="invocation r named document 44 and ended without error",
                  queue_depth="0 visible", dlq_depth="0 visible"),
    logs=LogsCollected(group="/aws/lambda/worker", problems=("Traceback (most recent call last):",),
                       init_errors=("Runtime.ImportModuleError: x",),
                       invocations=(InvocationEvidence(request_id="r", lines=("ok",), duration_ms=3.0),)),
    timings=Timings(push_s=0.1, wait_s=2.0, logs_s=0.0, total_s=2.2))


@pytest.mark.parametrize("outcome", [PROCESSED, NEVER_SENT, MOCK_INCIDENT], ids=["processed", "never-sent", "mock"])
def test_an_outcome_survives_the_json_round_trip(outcome: DocumentOutcome) -> None:
    text = json.dumps(records.outcome_to_json(outcome), sort_keys=True)
    rebuilt = records.outcome_from_json(json.loads(text))

    assert rebuilt == outcome
    assert isinstance(rebuilt.logs.invocations, tuple)
    assert all(isinstance(i.lines, tuple) for i in rebuilt.logs.invocations)
    assert (rebuilt.reached, rebuilt.consumed, rebuilt.worker_ms()) == \
        (outcome.reached, outcome.consumed, outcome.worker_ms())
    assert verdicts.evidence(rebuilt) == verdicts.evidence(outcome)


def test_an_outcome_read_back_from_the_run_store_equals_the_one_written(tmp_path: Path) -> None:
    store = RunStore("dv-run-records", tmp_path)
    for outcome in (PROCESSED, NEVER_SENT, MOCK_INCIDENT):
        store.write(f"doc-{outcome.key}", records.outcome_to_json(outcome))
    store.write("dlq-before", {"count": 0})  # not a document: not read as one

    assert sorted(read_outcomes(store), key=lambda o: o.key) == [PROCESSED, NEVER_SENT, MOCK_INCIDENT]


@pytest.mark.parametrize("record", [PROCESSED, PROCESSED.pushed, PROCESSED.row, PROCESSED.logs,
                                    PROCESSED.logs.invocations[0], PROCESSED.timings])
def test_the_records_are_frozen(record: object) -> None:
    name = dataclasses.fields(record)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, name, None)


def test_the_verdicts_read_the_stage_records() -> None:
    assert verdicts.not_reached_fix(MOCK_INCIDENT) == "invocation r named document 44 and ended without error"
    assert verdicts.result_problems(PROCESSED, Expectation(type="cme_certificate", min_confidence=0.99,
                                                           fields=dict(PROCESSED.row.fields))) == [
        "has confidence 0.95, below 0.99"]
    # the mock's invocation ended cleanly: SQS deleted its message, nothing is left to sweep
    assert verdicts.unfinished_message_ids([PROCESSED, NEVER_SENT, MOCK_INCIDENT]) == []
    assert verdicts.unfinished_message_ids([dataclasses.replace(MOCK_INCIDENT, logs=LogsCollected())]) == ["m-3"]


def test_each_document_travels_once_per_run_and_every_process_reads_the_same_outcome(tmp_path: Path) -> None:
    pipeline = Pipeline(bucket="b", documents=(Document(Path("/f/a.pdf")), Document(Path("/f/a.pdf")),
                                               Document(Path("/f/b.pdf"))))
    target = Target(name="t", runtime="python3.11", functions=(Function(name="f", handler="app.handler"),),
                    bundle=Bundle(output=tmp_path), pipeline=pipeline)
    info = RunContext(run_id="dv-run-sched", mode="smoke", target=target, report_dir=tmp_path, started_at="now")
    travelled: list[str] = []

    def travel(key: str, document: Document) -> DocumentOutcome:
        travelled.append(key)
        return dataclasses.replace(NEVER_SENT, key=key, file=str(document.file))

    # Two processes of the run, each with its own scheduler over one store folder.
    first = DocumentTrips(SharedSmokeRun(info, RunStore(info.run_id, tmp_path)), pipeline, travel)
    second = DocumentTrips(SharedSmokeRun(info, RunStore(info.run_id, tmp_path)), pipeline, travel)
    seen = [first.outcome("a.pdf#2"), second.outcome("a.pdf#2"), second.outcome("b.pdf"), first.outcome("b.pdf")]

    assert travelled == ["a.pdf#2", "b.pdf"]
    assert seen[0] == seen[1]
    assert seen[2] == seen[3]
    assert (seen[0].key, seen[2].file) == ("a.pdf#2", "/f/b.pdf")
    assert [o.key for o in first.shared.outcomes()] == ["a.pdf#2", "b.pdf"]


def test_dv502_names_an_extracted_field_the_target_does_not_expect() -> None:
    """DV502 promises exactly the expected fields: an extra key fails, quoting it; the exact set passes."""
    exact = Expectation(type="cme_certificate", fields=dict(PROCESSED.row.fields))
    assert verdicts.result_problems(PROCESSED, exact) == []
    fewer = Expectation(type="cme_certificate", fields={"name": "Dr. Jane Real", "credits": 12.5})
    assert verdicts.result_problems(PROCESSED, fewer) == [
        "has the unexpected field `nested` = `{'ok': True}` (the target expects exactly `name`, `credits`; add it to "
        "the expectation or stop writing it)"]
    # No expected fields at all: the target only asks for a classification, so no key is unexpected.
    assert verdicts.result_problems(PROCESSED, Expectation(type="cme_certificate")) == []




def test_the_trip_is_one_timed_evidence_item_the_html_report_draws_as_a_timeline() -> None:
    from deployverify.reports.timeline import trip as read_trip

    t0 = 1_767_225_600_000
    timed = dataclasses.replace(
        PROCESSED,
        pushed=dataclasses.replace(PROCESSED.pushed, steps=((t0, "row inserted, status `uploaded`"),
                                                            (t0 + 40, "uploaded to S3"),
                                                            (t0 + 55, "trigger message sent"))),
        row=dataclasses.replace(PROCESSED.row, changes=((t0 + 60, "uploaded"), (t0 + 900, "processed"))),
        logs=dataclasses.replace(PROCESSED.logs, invocations=(dataclasses.replace(
            PROCESSED.logs.invocations[0], started_ms=t0 + 120, ended_ms=t0 + 880),)))
    text = verdicts.trip_timeline(timed)
    assert text is not None
    assert text.splitlines()[0] == "trip of document 42 (cme.pdf)"
    assert text.splitlines()[-1] == "2026-01-01T00:00:00.900+00:00 row status `processed`"
    drawn = read_trip(text)
    assert drawn is not None
    assert drawn["name"] == "trip of document 42 (cme.pdf)"
    assert drawn["span_s"] == 0.9
    # the records travel between processes as JSON: the steps survive the round trip
    assert records.outcome_from_json(json.loads(json.dumps(records.outcome_to_json(timed)))) == timed
    # nothing was sent: no timeline
    assert verdicts.trip_timeline(NEVER_SENT) is None
