"""`deployverify demo`: the whole job on the example worker, on this machine, with no AWS account.

The product's three moments in a row: local up (moto, Postgres, the worker in a Lambda image) -> gate -> smoke ->
canary against the local stack -> one report that holds every suite's checks (`report merge` of the three).
The stack is taken down at the end unless it was already up or `--keep` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from deployverify.core.errors import DeployVerifyError
from deployverify.core.run_ids import new_run_id
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
    from deployverify.lambda_image.docker import local_image_problem

    if local_image_problem(wanted) is None:
        return None
    local = LOCAL_IMAGE.format(version=python_version)
    if local != wanted and local_image_problem(local) is None:
        _say(f"image {wanted} is not on this machine; using {local} (built by .ci/lambda-image.sh)")
        return local
    return None


def run(args: argparse.Namespace) -> int:
    from deployverify.commands import suite
    from deployverify.local import stack
    from deployverify.local.stack_environment import apply_environment

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
    codes: dict[str, int] = {}
    try:
        _say(f"1/5 local stack for {config} (no AWS account: moto on loopback, dummy keys)")
        stack.up(target, image=image)
        apply_environment()
        for step, mode in (("2/5", "gate"), ("3/5", "smoke"), ("4/5", "canary")):
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
    _say("5/5 report")
    merged = merge_reports(run_id, [report_dir / mode for mode in ("gate", "smoke", "canary")], report_dir)
    if merged is None:
        _say(f"no report was written; see the output above (suite exit codes: {codes})")
        return 2
    print(f"report: {merged.resolve()}")
    return 0 if all(code == 0 for code in codes.values()) else 1


def merge_reports(run_id: str, folders: list[Path], out: Path) -> Path | None:
    """One report holding every check the suites ran, in the latest moment's mode (canary)."""
    from deployverify.core.report_merge import merge_folders
    from deployverify.reports.render import write_reports

    written = [folder for folder in folders if (folder / "report.json").exists()]
    if not written:
        return None
    return write_reports(merge_folders(written, run_id), out)["html"]
