"""`deployverify local up|down|status|env`: the example's AWS on this machine, no account needed.

`up` starts a moto server (S3, SQS, Secrets Manager, CloudWatch Logs and metrics, Lambda, IAM on one loopback port),
Postgres (the target's `local.database_url`, or an embedded one), creates the SAM template's resources and runs the
worker: the real handler in the Lambda image, fed from the trigger queue like Lambda's SQS event source. It prints
the environment a smoke run needs as `export` lines on stdout, so `eval "$(deployverify local up -c FILE)"` works;
`deployverify smoke -c FILE --local` applies the same environment by itself.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from deployverify.core.errors import DeployVerifyError
from deployverify.target import load_target

DEFAULT_TARGETS = ("deployverify.yaml", "examples/docworker/deployverify.yaml")


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    up = sub.add_parser("up", help="start (or converge) the local stack for a target file")
    up.add_argument("-c", "--config", metavar="FILE", help="target (default ./deployverify.yaml, else the example's)")
    up.add_argument("--image", metavar="IMAGE", help="Lambda image to run the worker in (default: the target's)")
    up.add_argument("--require-image", action="store_true",
                    help="fail rather than run the worker in a sandbox when the image cannot run")
    sub.add_parser("down", help="stop and remove everything the local stack started")
    status = sub.add_parser("status", help="what runs, the resources, the environment; exit 1 when not healthy")
    status.add_argument("--json", action="store_true", help="machine-readable")
    sub.add_parser("env", help="print the environment of the running stack as export lines")


def default_config() -> str:
    for candidate in DEFAULT_TARGETS:
        if Path(candidate).exists():
            return candidate
    raise DeployVerifyError("no target: pass -c FILE (or run `deployverify init` to write deployverify.yaml)")


def export_lines(env: dict[str, str]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def run(args: argparse.Namespace) -> int:
    from deployverify.local import stack

    action = args.action
    if action == "up":
        config = args.config or default_config()
        result = stack.up(load_target(config), image=args.image, require_image=args.require_image)
        endpoint = result.env["AWS_ENDPOINT_URL"]
        print(f"# local stack up for {config}; no AWS account is used: every call goes to {endpoint}",
              file=sys.stderr)
        print(f"# next: deployverify smoke -c {config} --local   (or eval these lines in your shell)", file=sys.stderr)
        print("\n".join(export_lines(result.env)))
        return 0
    if action == "down":
        outcome = stack.down()
        return 1 if outcome["left"] else 0
    if action == "env":
        print("\n".join(export_lines(stack.environment())))
        return 0
    if action == "status":
        report = stack.status()
        if args.json:
            print(json.dumps(report, indent=2, default=str))
        else:
            print("\n".join(status_lines(report)))
        return 0 if report.get("up") and report.get("healthy") else 1
    raise DeployVerifyError("say what to do: deployverify local up|down|status|env")


def status_lines(report: dict[str, Any]) -> list[str]:
    if not report.get("up"):
        return [f"local stack: down (no state at {report['state']})"]
    ok = {True: "running", False: "NOT RUNNING", None: "external"}
    runtime = report.get("runtime") or {}
    lines = [f"local stack for {report['target']}: {'healthy' if report['healthy'] else 'UNHEALTHY'}",
             f"  moto:      {ok[bool(report['moto'])]} at {report['endpoint']} (region {report['region']})",
             f"  database:  {report['database']['mode']} {report['database']['where']} "
             f"({ok[report['database']['running']]})",
             f"  function:  {runtime.get('mode')} ({runtime.get('reason')})"]
    for name, worker in report["workers"].items():
        state = "running" if worker["alive"] else "NOT RUNNING"
        lines.append(f"  worker {name}: {state}, init {worker.get('status')}, {worker.get('invocations') or 0} "
                     f"invocation(s), last {worker.get('last_status') or '-'}, "
                     f"{len(worker.get('environments') or [])} of {worker.get('concurrency') or 1} execution "
                     "environment(s)")
        if worker.get("error"):
            lines.append(f"    init error: {worker['error']}")
    resources = report.get("resources") or {}
    for logical, name in (resources.get("buckets") or {}).items():
        lines.append(f"  bucket   {logical}: {name}")
    for logical, queue in (resources.get("queues") or {}).items():
        redrive = f" -> {queue['dlq']} after {queue['max_receive_count']} receives" if queue.get("dlq") else ""
        lines.append(f"  queue    {logical}: {queue['url']}{redrive}")
    for logical, secret in (resources.get("secrets") or {}).items():
        lines.append(f"  secret   {logical}: {secret['name']}")
    for logical, fn in (resources.get("functions") or {}).items():
        lines.append(f"  function {logical}: {fn['name']} (CodeSha256 {fn['code_sha256']}, logs {fn['log_group']})")
    if report.get("not_emulated"):
        lines.append(f"  not emulated: {', '.join(report['not_emulated'])}")
    lines.append("  environment (deployverify local env):")
    lines += [f"    {line}" for line in export_lines(report["env"])]
    return lines
