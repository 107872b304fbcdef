"""`deployverify report merge OUT DIR...`: one report, in every format, from the report folders of a sharded run.

A GitHub Actions matrix runs one shard per function or environment and uploads each report folder; a final job
downloads them all and merges them here. A duplicate shard exits 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(parser))
    merge = actions.add_parser("merge", help="merge report folders (each with its report.json) into OUT")
    merge.add_argument("out", metavar="OUT", help="folder the merged reports are written to")
    merge.add_argument("folders", metavar="DIR", nargs="+", help="report folders of the shards")
    merge.add_argument("--run-id", metavar="ID", help="the merged run's id (default: the shards' common run id)")


def run(args: argparse.Namespace) -> int:
    from deployverify.core.report_merge import merge_folders
    from deployverify.reports.render import write_reports
    from deployverify.reports.terminal import summary_lines

    merged = merge_folders([Path(folder) for folder in args.folders], args.run_id)
    written = write_reports(merged, Path(args.out))
    for line in summary_lines(merged):
        print(line)
    print(f"report: {written['html'].resolve()}")
    return 0 if merged.status.value == "pass" else 1
