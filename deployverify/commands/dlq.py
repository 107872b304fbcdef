"""`deployverify dlq show` and `deployverify dlq redrive [--dry-run] [--max N]`: the seed's "manual reprocessing
script", for the target's dead-letter queue (`dlq:`) and its trigger queue (`pipeline.trigger.queue`).

DLQ messages expire after the queue's retention (14 days in the seed): `show` lists what is parked and how old it is,
`redrive` moves it back to the trigger queue so the worker processes it again.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from deployverify.core.errors import DeployVerifyError
from deployverify.core.run_ids import cache_dir
from deployverify.target import load_target


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(parser))
    show = actions.add_parser("show", help="list parked messages: id, age, receive count, document, redacted body")
    redrive = actions.add_parser("redrive", help="move parked messages back to the trigger queue, each exactly once")
    for sub in (show, redrive):
        sub.add_argument("-c", "--config", metavar="FILE", help="target file (default deployverify.yaml)")
        sub.add_argument("--local", action="store_true", help="against the local stack (deployverify local up)")
        sub.add_argument("--dlq", metavar="QUEUE", help="the DLQ (URL, ARN or name) instead of the target's `dlq:`")
        sub.add_argument("--max", type=int, metavar="N", help="at most N messages")
    redrive.add_argument("--to", metavar="QUEUE", help="destination (default the target's trigger queue)")
    redrive.add_argument("--dry-run", action="store_true", help="list what would move; move nothing")
    redrive.add_argument("--method", choices=("auto", "move-task", "manual"), default="auto",
                         help="auto: SQS's message-move task where the endpoint has it, else receive/send/delete")
    redrive.add_argument("--journal", metavar="FILE",
                         help="progress file that makes an interrupted redrive resumable (default in the cache)")


def _queues(args: argparse.Namespace) -> tuple[str | None, str | None, str | None]:
    """(dlq, destination, region) from the flags, falling back to the target file."""
    dlq, destination, region = args.dlq, getattr(args, "to", None), None
    config = args.config or ("deployverify.yaml" if Path("deployverify.yaml").exists() else None)
    if config and (dlq is None or (args.action == "redrive" and destination is None)):
        target = load_target(config)
        region = target.region
        dlq = dlq or target.dlq
        if destination is None and target.pipeline is not None:
            destination = target.pipeline.trigger.queue
    return dlq, destination, region


def run(args: argparse.Namespace) -> int:
    if args.local:
        from deployverify.local.stack_environment import apply_environment

        apply_environment()
    from deployverify.aws.session import client
    from deployverify.pipeline import dlq as queues
    from deployverify.pipeline import redrive

    dlq_name, destination_name, region = _queues(args)
    if not dlq_name:
        raise DeployVerifyError("no dead-letter queue: pass --dlq QUEUE or set `dlq: {queue: ...}` in the target")
    sqs = client("sqs", region_name=region) if region else client("sqs")
    try:
        dlq_url = queues.queue_url(sqs, dlq_name)
    except queues.QueueMissing:
        raise DeployVerifyError("the dead-letter queue does not exist", where=dlq_name) from None
    if args.action == "show":
        parked = redrive.show(sqs, dlq_url, args.max or 100)
        print(f"{len(parked)} message(s) parked in {queues.queue_name(dlq_url)}")
        for message in parked:
            print(message.render())
        return 0
    if not destination_name:
        raise DeployVerifyError("no destination: pass --to QUEUE or set `pipeline.trigger.queue` in the target")
    try:
        destination_url = queues.queue_url(sqs, destination_name)
    except queues.QueueMissing:
        raise DeployVerifyError("the destination queue does not exist", where=destination_name) from None
    journal = Path(args.journal) if args.journal else \
        cache_dir() / "redrive" / (hashlib.sha256(f"{dlq_url} {destination_url}".encode()).hexdigest()[:16] + ".jsonl")
    if args.max is not None and args.max < 1:
        raise DeployVerifyError("--max must be at least 1", where="--max")
    result = redrive.redrive(sqs, dlq_url, destination_url, journal, limit=args.max, dry_run=args.dry_run,
                             method=args.method)
    if args.dry_run:
        print(f"dry run: {len(result.would_move)} message(s) would move from {queues.queue_name(dlq_url)} "
              f"to {queues.queue_name(destination_url)}")
        for message in result.would_move:
            print(message.render())
        return 0
    print(f"redrive via {result.method}: {len(result.moved)} moved"
          + (f", {len(result.finished)} finished from an interrupted run" if result.finished else "")
          + f" ({queues.queue_name(dlq_url)} -> {queues.queue_name(destination_url)})")
    if result.held_elsewhere:
        print(f"{result.held_elsewhere} message(s) are held by another consumer; they move on the next redrive "
              "once their visibility timeout ends")
    return 0
