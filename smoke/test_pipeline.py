"""DV501-DV502: each fixture document goes through the deployed pipeline and comes back with a real result."""

from __future__ import annotations

from pathlib import Path

from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.pipeline import rows, verdicts
from deployverify.pipeline.records import DocumentOutcome
from deployverify.target import Target


def _name(outcome: DocumentOutcome) -> str:
    return Path(outcome.file).name


@check("DV501")
def test_document_reaches_final_status(outcome: DocumentOutcome) -> None:
    """The document's row (inserted for the test user as `uploaded`, run id attached), its S3 object (run id in the
    key) and its trigger (SQS message with group and dedup id, or an async invoke) make the worker move the row to
    the final status within the target's timeout. If not, the message quotes the last status, the queue and DLQ
    depths and the worker's own words from its logs."""
    dv.evidence(*verdicts.evidence(outcome))
    timeline = verdicts.trip_timeline(outcome)
    if timeline:
        dv.evidence(timeline)  # one multi-line item: the HTML report draws it as the document's timeline
    if outcome.pushed.error:
        dv.fail(f"`{_name(outcome)}` could not be sent into the pipeline: {outcome.pushed.error}; check the bucket, "
                "queue and database permissions of the identity running deployverify")
    if not outcome.reached:
        tail = [f"log: {line}" for line in outcome.logs.tail]
        row = outcome.row
        dv.fail(registry.message("DV501", document=_name(outcome), status=row.status, waited_s=row.waited_s,
                                 expected=outcome.expected_status, queue_depth=row.queue_depth or "n/a",
                                 dlq_depth=row.dlq_depth or "n/a", fix=verdicts.not_reached_fix(outcome)),
                evidence=tail)


@check("DV502")
def test_document_has_real_result(outcome: DocumentOutcome, target: Target, document: str) -> None:
    """A processed row carries the classification, at least the minimum confidence and exactly the extracted
    fields the target expects. A row marked processed with no classification and no fields is the mock
    incident's signature and fails."""
    assert target.pipeline is not None
    if not outcome.reached:
        dv.blocked("DV501", f"`{_name(outcome)}` never reached `{outcome.expected_status}`")
    index = rows.document_keys(target.pipeline).index(document)
    expect = target.pipeline.documents[index].expect
    problems = verdicts.result_problems(outcome, expect)
    dv.evidence(f"`{_name(outcome)}`: type `{outcome.row.document_type}`, confidence {outcome.row.confidence}, "
                f"fields {outcome.row.fields}")
    if problems:
        more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:])})" if len(problems) > 1 else ""
        dv.fail(registry.message("DV502", document=_name(outcome), problem=problems[0] + more))
