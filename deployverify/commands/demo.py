"""`deployverify demo`: the whole job on the example worker, on this machine, with no AWS account.

local up (moto, Postgres, the worker in a Lambda image) -> gate -> smoke against the local stack -> one report that
holds both suites' checks. The stack is taken down at the end unless it was already up or `--keep` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from deployverify.core.errors import DeployVerifyError
from deployverify.core.run_ids import new_run_id, now_iso
from deployverify.target import load_target

DEFAULT_CONFIG = "examples/docworker/deployverify.yaml"
# Built by .ci/lambda-image.sh where no registry is reachable; used when the target's image is not on this machine.
LOCAL_IMAGE = "deployverify/lambda-python:{version}"


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("-c", "--config", metavar="FILE", default=DEFAULT_CONFIG,
                        help=f"target file (default {DEFAULT_CONFIG})")
    parser.add_argument("--image", metavar="IMAGE", help="Lambda image for the gate's probe and the worker")
    parser.add_argument("--report-dir", metavar="DIR", help="where reports go (default reports/out/<run-id>)")
    parser.add_argument("--keep", action="store_true", help="leave the local stack running afterwards")
    parser.add_argument("-v", "--verbose", action="store_true", help="pytest's full output")


def _say(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def choose_image(explicit: str | None, wanted: str, python_version: str) -> str | None:
    """The target's image if it is here, else the local Lambda-like image if that is here; never pulls."""
    if explicit:
        return explicit
    from deployverify.local.container import docker_problem

    if docker_problem(wanted) is None:
        return None
    local = LOCAL_IMAGE.format(version=python_version)
    if local != wanted and docker_problem(local) is None:
        _say(f"image {wanted} is not on this machine; using {local} (built by .ci/lambda-image.sh)")
        return local
    return None


def run(args: argparse.Namespace) -> int:
    from deployverify.commands import suite
    from deployverify.local import stack

    config = args.config
    if not Path(config).exists():
        raise DeployVerifyError("no such target file; run the demo from the repository root or pass -c FILE",
                                where=config)
    target = load_target(config)
    image = choose_image(args.image, target.container_image, target.python_version)
    if image:
        os.environ["DV_IMAGE"] = image  # the target file reads ${DV_IMAGE:-...}; the suites reload it
        target = load_target(config)
    run_id = new_run_id()
    report_dir = Path(args.report_dir or Path("reports") / "out" / run_id)
    was_up = stack.read_state() is not None
    started = now_iso()
    codes: dict[str, int] = {}
    try:
        _say(f"1/4 local stack for {config} (no AWS account: moto on loopback, dummy keys)")
        stack.up(target, image=image)
        stack.apply_environment()
        for step, mode in (("2/4", "gate"), ("3/4", "smoke")):
            _say(f"{step} {mode}")
            argv = ["-c", config, "--run-id", f"{run_id}-{mode}", "--report-dir", str(report_dir / mode)]
            if image:
                argv += ["--image", image]
            if args.verbose:
                argv.append("-v")
            # The suite's own parser, as `deployverify gate|smoke` configures it: commands never import the CLI.
            parser = argparse.ArgumentParser(prog=f"deployverify {mode}")
            suite.configure(parser, mode)
            codes[mode] = suite.run(parser.parse_args(argv, argparse.Namespace(command=mode)))
    finally:
        if not was_up and not args.keep:
            stack.down(say=lambda _: None)
            _say("local stack removed (pass --keep to leave it running)")
    _say("4/4 report")
    merged = merge_reports(run_id, target.name, started, [report_dir / "gate", report_dir / "smoke"], report_dir)
    if merged is None:
        _say(f"no report was written; see the output above (suite exit codes: {codes})")
        return 2
    print(f"report: {merged.resolve()}")
    return 0 if all(code == 0 for code in codes.values()) else 1


def merge_reports(run_id: str, target: str, started: str, folders: list[Path], out: Path) -> Path | None:
    """One report holding every check the suites ran (mode smoke: the post-deploy view, gate checks included)."""
    from deployverify.core.results import Result, RunReport
    from deployverify.reports.render import write_reports

    checks: list[Result] = []
    for folder in folders:
        path = folder / "report.json"
        if path.exists():
            checks += [Result.from_dict(c) for c in json.loads(path.read_text(encoding="utf-8"))["checks"]]
    if not checks:
        return None
    run = RunReport(run_id=run_id, target=target, mode="smoke", started_at=started, finished_at=now_iso(),
                    checks=checks)
    return write_reports(run, out)["html"]
