"""The `deployverify` command: gate, smoke and canary run the suites through pytest; the rest are helpers.

Exit codes: 0 every check passed, 1 a check failed or crashed, 2 usage, target-file or other input error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from deployverify import __version__
from deployverify.core.errors import DeployVerifyError
from deployverify.core.inert import inert
from deployverify.core.redact import redact

# name -> (module under deployverify.commands, one-line help). Imported lazily: `deployverify checks` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "gate": ("suite", "pre-deploy gate: build, native extensions, handler, imports, stub scan (checks/)"),
    "smoke": ("suite", "post-deploy smoke: secrets, database, test user, a real document through the pipeline"),
    "canary": ("suite", "nightly canary: smoke plus the operational checks"),
    "init": ("init", "write a starter deployverify.yaml from the SAM template.yaml here"),
    "checks": ("checks", "list every check id with its title"),
    "scan": ("scan", "stub scan (DV301-DV309) of a target, a source folder or the deployed code; SARIF with --sarif"),
    "baseline": ("baseline", "accept the stub scan's current findings: later scans report only new ones"),
    "local": ("local", "the target's AWS on this machine (moto, Postgres, worker in a Lambda image): up|down|..."),
    "demo": ("demo", "local up -> gate -> smoke -> canary -> report on the example worker; no AWS account needed"),
    "dlq": ("dlq", "the dead-letter queue: show parked messages, or redrive them to the trigger queue exactly once"),
    "report": ("report", "report merge OUT DIR...: one report from the report folders of sharded runs"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"deployverify: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="deployverify", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"deployverify {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        _module(module).configure(command, name)
    return parser


def _module(name: str) -> Any:
    return importlib.import_module(f"deployverify.commands.{name}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    module, _ = COMMANDS[args.command]
    try:
        code: int = _module(module).run(args)
    except DeployVerifyError as exc:
        # One line, whatever the input held: bad input quoted in the message cannot move the cursor or add lines.
        print(f"deployverify: error: {inert(redact(str(exc))).replace(chr(10), ' ')}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("deployverify: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
