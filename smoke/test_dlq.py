"""DV520-DV521: the dead-letter queue is empty before the run and still empty after it."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.pipeline import dlq
from deployverify.pipeline.records import DocumentOutcome
from deployverify.target import Target


@check("DV520")
def test_dlq_empty_before(target: Target, dlq_before: dict[str, Any]) -> None:
    """Before the run pushes its first document, the DLQ holds no message (looked at once per run, before any
    process pushes). Messages found are sampled as evidence (peeked, so they stay where they are). Messages the
harness tagged for an earlier run, older than the sweep threshold (DV_SWEEP_AFTER_S, default 1 h), were removed
just before and are listed as evidence instead of failing the check."""
    if "error" in dlq_before:
        dv.fail(f"DLQ `{target.dlq}` cannot be read: {dlq_before['error']}; fix dlq.queue or the permissions")
    # Tagged messages of earlier runs (dead-lettered after their run ended) were swept before this look: said here.
    dv.evidence(*dlq_before.get("swept", {}).get("lines", []))
    dv.evidence(f"DLQ before the run: {dlq_before['depth']}", *dlq_before["sample"])
    if dlq_before["count"]:
        dv.fail(registry.message("DV520", queue=target.dlq, count=dlq_before["count"]))


@check("DV521")
def test_dlq_empty_after(target: Target, aws: Any, dlq_before: dict[str, Any],
                         all_documents: list[DocumentOutcome]) -> None:
    """After every document's trip has ended (this check waits for the other processes' documents too), the DLQ
    still holds no message; any there are sampled as evidence."""
    if "error" in dlq_before:
        dv.blocked("DV520", "the DLQ cannot be read")
    assert target.dlq is not None
    try:
        url = dlq.queue_url(aws.sqs, target.dlq)
        depth = dlq.depth(aws.sqs, url)
        sampled = [m.render() for m in dlq.sample(aws.sqs, url)] if depth.total else []
    except (ClientError, BotoCoreError, dlq.QueueMissing) as exc:
        dv.fail(f"DLQ `{target.dlq}` cannot be read after the run: {exc}")
    dv.evidence(f"DLQ after {len(all_documents)} document(s): {depth}", *sampled)
    if depth.total:
        before = dlq_before["count"]
        detail = f" ({before} were there before the run)" if before else ""
        dv.fail(registry.message("DV521", queue=target.dlq, count=depth.total, detail=detail))
