"""`deployverify checks`: every check id with its title, grouped by band."""

from __future__ import annotations

import argparse

from deployverify.core.registry import CHECKS


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--markdown", action="store_true", help="print docs/checks.md instead")


def run(args: argparse.Namespace) -> int:
    if args.markdown:
        from deployverify.commands.docs import checks_markdown

        print(checks_markdown(), end="")
        return 0
    for spec in CHECKS.values():
        print(f"{spec.id}  {spec.title}")
    return 0
