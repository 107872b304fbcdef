"""DV610-DV611 (canary only): the function reported no recent errors, and its trigger queue is draining."""

from __future__ import annotations

from typing import Any

import pytest

from deployverify.canary import operations as canary
from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.pipeline import dlq
from deployverify.target import Target


@pytest.mark.canary
@check("DV610")
def test_no_recent_errors(target: Target, aws: Any) -> None:
    """CloudWatch's AWS/Lambda Errors and Throttles for each function sum to zero over the last
    `canary.window_min` minutes."""
    window = target.canary.window_min
    for function in target.functions:
        name = function.function_name or function.name
        sums = canary.lambda_errors(aws.client("cloudwatch"), name, window)
        dv.evidence(f"{name}: {sums.errors:g} error(s), {sums.throttles:g} throttle(s) in {sums.datapoints} "
                    f"datapoint(s) over {window} min")
        if sums.bad:
            dv.fail(registry.message("DV610", function=name, errors=f"{sums.errors:g}",
                                     throttles=f"{sums.throttles:g}", window_min=window))


@pytest.mark.canary
@check("DV611")
def test_queue_draining(target: Target, aws: Any) -> None:
    """The trigger queue's oldest message (AWS/SQS ApproximateAgeOfOldestMessage, or the SentTimestamp of the
    oldest message peeked in the queue) is no older than `canary.max_queue_age_s`."""
    if target.pipeline is None or target.pipeline.trigger.type != "sqs" or not target.pipeline.trigger.queue:
        dv.not_applicable("the target has no SQS trigger queue")
    queue = target.pipeline.trigger.queue
    try:
        url = dlq.queue_url(aws.sqs, queue)
    except dlq.QueueMissing:
        dv.fail(f"trigger queue `{queue}` does not exist; deploy it or fix pipeline.trigger.queue")
    age = canary.oldest_message_age(aws.client("cloudwatch"), aws.sqs, url, target.canary.window_min)
    limit = target.canary.max_queue_age_s
    dv.evidence(f"`{queue}`: oldest message {age.age_s}s old ({age.source}); limit {limit}s")
    if age.age_s > limit:
        dv.fail(registry.message("DV611", queue=queue, age_s=age.age_s, limit_s=limit))
