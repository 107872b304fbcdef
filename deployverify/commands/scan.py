"""`deployverify scan`: the stub scan (DV301-DV309) on its own, on a target, a source folder or the deployed code.

    deployverify scan -c deployverify.yaml                 the target's built bundle (or its scan.paths)
    deployverify scan SRC --handler app.handler            a folder of source, no target file
    deployverify scan -c deployverify.yaml --deployed      the code each deployed function runs (get_function)
    deployverify scan --deployed --function NAME           the same, without a target file

Exit 0: no error findings (warnings allowed); 1: error findings; 2: bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from deployverify.core.errors import DeployVerifyError
from deployverify.core.redact import redact
from deployverify.core.results import Finding, Severity
from deployverify.gate.stubscan.scan import HandlerSpec, ScanSettings, handler_specs, scan
from deployverify.gate.stubscan.scan_report import ScanReport
from deployverify.target import Target, load_target


@dataclass(frozen=True)
class ScanJob:
    label: str
    roots: tuple[Path, ...]
    handlers: tuple[HandlerSpec, ...]
    settings: ScanSettings
    source_roots: tuple[Path, ...] = ()


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("path", nargs="?", metavar="PATH", help="a folder of code to scan (with --handler)")
    parser.add_argument("-c", "--config", metavar="FILE", help="target file (deployverify.yaml)")
    parser.add_argument("--handler", action="append", default=[], metavar="MODULE.FUNC",
                        help="handler to start from, with PATH (repeatable)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment the handler runs with, for mock toggles (repeatable; with PATH)")
    parser.add_argument("--must-reach", action="append", default=[], metavar="FUNC",
                        help="a function every handler must reach (repeatable; with PATH)")
    parser.add_argument("--no-cache", action="store_true", help="scan even if an identical tree was scanned before")
    if name == "scan":
        parser.add_argument("--deployed", action="store_true",
                            help="scan the code the deployed function runs (Lambda get_function), not the bundle")
        parser.add_argument("--function", action="append", default=[], metavar="NAME",
                            help="deployed function name or ARN, with --deployed (default: the target's "
                                 "functions[].function_name)")
        parser.add_argument("--artifact", metavar="s3://BUCKET/KEY",
                            help="with --deployed: the zip the function was deployed from, if Code.Location is "
                                 "unreachable")
        parser.add_argument("--sarif", metavar="FILE", help="also write the findings as SARIF 2.1.0 to FILE")
        parser.add_argument("--json", metavar="FILE", help="also write the findings as JSON to FILE")


def _target(args: argparse.Namespace) -> Target | None:
    if args.config and args.path:
        raise DeployVerifyError("use either -c FILE or PATH --handler M.F, not both")
    if args.config:
        return load_target(args.config)
    if args.path:
        return None
    default = Path("deployverify.yaml")
    if not default.exists():
        raise DeployVerifyError("no target: pass -c FILE or PATH --handler MODULE.FUNC")
    return load_target(default)


def _environment(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise DeployVerifyError(f"{pair!r} is not NAME=VALUE", where="--env")
        env[name] = value
    return env


def local_jobs(args: argparse.Namespace) -> list[ScanJob]:
    """What `scan` and `baseline` scan when not --deployed: a target's code, or PATH with --handler."""
    target = _target(args)
    if target is None:
        if not args.handler:
            raise DeployVerifyError("PATH needs --handler MODULE.FUNC (which function Lambda calls)")
        settings = ScanSettings(must_reach={"*": tuple(args.must_reach)} if args.must_reach else {})
        env = _environment(args.env)
        specs = tuple(HandlerSpec(h, env, tuple(args.must_reach)) for h in args.handler)
        return [ScanJob(str(args.path), (Path(args.path),), specs, settings)]
    settings = ScanSettings.from_model(target.scan)
    roots = tuple(target.scan.paths)
    if not roots:
        from deployverify.core.run_ids import cache_dir
        from deployverify.gate.build.build import ensure_built

        roots = (ensure_built(target, cache_dir()).path,)
    specs = tuple(handler_specs(target, settings))
    return [ScanJob(target.name, roots, specs, settings, _source_roots(target))]


def _source_roots(target: Target) -> tuple[Path, ...]:
    return tuple(target.source_roots()) or ((target.base_dir,) if target.source_path else ())


def deployed_jobs(args: argparse.Namespace, stack: ExitStack) -> Iterator[ScanJob]:
    from deployverify.deployed.fetch import fetch_deployed

    target = _target(args) if args.config or not args.function else None
    settings = ScanSettings.from_model(target.scan) if target else ScanSettings()
    wanted: list[tuple[str, tuple[str, ...]]] = []
    if args.function:
        wanted = [(name, tuple(args.must_reach)) for name in args.function]
    elif target is not None:
        specs = {s.handler: s for s in handler_specs(target, settings)}
        for function in target.functions:
            if not function.function_name:
                raise DeployVerifyError(f"function {function.name!r} has no function_name; --deployed needs the "
                                        "deployed name", where=f"{target.source_path}: functions")
            wanted.append((function.function_name, specs[function.handler].must_reach))
    for name, must_reach in wanted:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dv-deployed-")))
        code = fetch_deployed(name, folder / "code", target=target, artifact=args.artifact)
        for note in code.notes:
            print(f"deployverify: {name}: {note}", file=sys.stderr)
        print(f"deployverify: scanning deployed `{name}` ({code.source}, CodeSha256 {code.code_sha256}, "
              f"handler {code.handler})", file=sys.stderr)
        spec = HandlerSpec(code.handler, code.environment, must_reach)
        yield ScanJob(f"deployed {name}", (code.folder,), (spec,), settings,
                      _source_roots(target) if target else ())


def run_job(job: ScanJob, use_cache: bool, apply_baseline: bool = True) -> ScanReport:
    return scan(list(job.roots), list(job.handlers), job.settings, use_cache=use_cache,
                source_roots=job.source_roots, apply_baseline=apply_baseline)


def print_report(job: ScanJob, report: ScanReport) -> None:
    for note in report.notes:
        print(f"note: {note}")
    for finding in report.findings:
        print(redact(f"{finding.rule} {finding.severity.value:7} {report.display(finding)}:{finding.line} "
                     f"{finding.message}"))
        if finding.call_path and finding.rule != "DV308":
            print(f"    call path: {' → '.join(finding.call_path)}")
    errors = len(report.errors)
    warnings = len(report.findings) - errors
    print(f"{job.label}: {errors} error(s), {warnings} warning(s), {len(report.suppressed)} suppressed; "
          f"{report.first_party_files} first-party files"
          f"{' (cached result)' if report.cached else f', {report.files_parsed} parsed'} in {report.seconds:.2f}s")


def run(args: argparse.Namespace) -> int:
    from deployverify.reports.annotations import annotation_lines, enabled
    from deployverify.reports.sarif import render_sarif_findings

    all_findings: list[Finding] = []
    errors = 0
    with ExitStack() as stack:
        jobs = deployed_jobs(args, stack) if args.deployed else iter(local_jobs(args))
        for job in jobs:
            report = run_job(job, use_cache=not args.no_cache)
            print_report(job, report)
            all_findings.extend(report.results())
            errors += len(report.errors)
    if args.sarif:
        Path(args.sarif).write_text(redact(render_sarif_findings(all_findings)), encoding="utf-8")
    if args.json:
        Path(args.json).write_text(redact(json.dumps([f.to_dict() for f in all_findings], indent=2)) + "\n",
                                   encoding="utf-8")
    if enabled():
        for line in annotation_lines(all_findings):
            print(redact(line))
    return 1 if errors or any(f.severity is Severity.ERROR for f in all_findings) else 0
