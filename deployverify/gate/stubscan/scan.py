"""The stub scan's entry point: `scan(target_or_roots, handlers, settings) -> ScanReport`.

Inputs are folders of deployable code (a built bundle, a source folder, code fetched from a deployed function).
First-party modules are found with `BundleIndex` (anything not owned by an installed distribution); third-party
code is never opened. Results are cached by content: the key hashes the engine version, the handlers and settings,
the baseline and every first-party file's bytes, so an unchanged tree is answered from the cache without parsing.
The cached path does not even walk third-party folders: it remembers which top-level entries are first-party under
a signature of the root's listing (names, and the dist-info folders' mtimes).
"""

from __future__ import annotations

import fnmatch
import gc
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployverify.core.errors import BundleError, DeployVerifyError, HandlerError
from deployverify.core.handler import parse_handler
from deployverify.core.run_ids import cache_dir
from deployverify.gate.probe.imports import BundleIndex
from deployverify.gate.stubscan.collector import build, handler_roots
from deployverify.gate.stubscan.findings import ScanFinding
from deployverify.gate.stubscan.graph import CallGraph
from deployverify.gate.stubscan.program import Program, SourceModule
from deployverify.gate.stubscan.resolver import Resolver
from deployverify.gate.stubscan.rule_context import HandlerScan, RuleContext
from deployverify.gate.stubscan.rules import run_rules
from deployverify.gate.stubscan.scan_report import HandlerSummary, ScanReport
from deployverify.gate.stubscan.source_twins import display_paths
from deployverify.gate.stubscan.suppress import allowed_by, inline_allows, read_baseline
from deployverify.target.model import Allow, Target
from deployverify.target.model import Scan as ScanModel

ENGINE_VERSION = "6"  # bump when results change: the content cache must not answer for an older engine
_SKIP_DIRS = {"__pycache__", "bin", ".git"}
_ANALYSIS_GC_THRESHOLD = 100_000  # allocations between young-generation collections during an analysis


@dataclass(frozen=True)
class HandlerSpec:
    handler: str
    environment: Mapping[str, str] = field(default_factory=dict)
    must_reach: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScanSettings:
    must_reach: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    allow: tuple[Allow, ...] = ()
    orphan_min_lines: int = 60
    baseline: Path | None = None
    exclude: tuple[str, ...] = ()
    fail_on_todo: bool = False

    @classmethod
    def from_model(cls, scan: ScanModel) -> ScanSettings:
        return cls(must_reach=dict(scan.must_reach), allow=scan.allow, orphan_min_lines=scan.orphan_min_lines,
                   baseline=scan.baseline, exclude=scan.exclude, fail_on_todo=scan.fail_on_todo)

    def cache_text(self) -> str:
        allow = [(a.rule, a.path, a.name, a.reason) for a in self.allow]
        return json.dumps([sorted((k, list(v)) for k, v in self.must_reach.items()), allow, self.orphan_min_lines,
                           list(self.exclude), self.fail_on_todo])


# ---- inputs ----------------------------------------------------------------------------------------------------

def handler_specs(target: Target, settings: ScanSettings) -> list[HandlerSpec]:
    names = {f.name for f in target.functions} | {f.handler for f in target.functions} | {"*"}
    for key in settings.must_reach:
        if key not in names:
            raise DeployVerifyError(f"{key!r} names no function; use a functions[].name, a handler or '*'",
                                    where=f"{target.source_path or 'target'}: scan.must_reach")
    specs = []
    for function in target.functions:
        must = (*settings.must_reach.get(function.name, ()), *settings.must_reach.get(function.handler, ()),
                *settings.must_reach.get("*", ()))
        specs.append(HandlerSpec(function.handler, dict(function.environment), tuple(dict.fromkeys(must))))
    return specs


def _top_entries_signature(root: Path) -> str:
    digest = hashlib.sha256(str(root.resolve()).encode())
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise BundleError(f"cannot list the folder: {exc.strerror}", where=str(root)) from None
    for entry in entries:
        meta = entry.name.endswith((".dist-info", ".egg-info"))
        digest.update(f"{entry.name}|{entry.is_dir()}|{entry.stat().st_mtime_ns if meta else 0}\n".encode())
    return digest.hexdigest()


def _first_party_tops(root: Path) -> list[str]:
    index = BundleIndex.from_bundle(root)
    tops = set()
    depth = len(root.parts)  # module paths are root's path plus theirs: their first part below it, no relative_to
    for module in index.first_party_modules():
        tops.add(module.path.parts[depth])
    return sorted(tops)


def _list_sources(root: Path, tops: Iterable[str], exclude: Sequence[str]) -> list[SourceModule]:
    """The first-party .py files under the first-party top-level entries, named as Python imports them."""
    found: list[SourceModule] = []
    for top in tops:
        start = root / top
        files: list[tuple[Path, str]] = []  # (file, its path relative to root with forward slashes)
        if start.is_file():
            files = [(start, start.relative_to(root).as_posix())]
        elif start.is_dir():
            for folder, dirs, names in os.walk(start):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and d.isidentifier())
                here = Path(folder)
                prefix = here.relative_to(root).as_posix()  # once a folder (it is below root, never root itself)
                files.extend((here / n, f"{prefix}/{n}") for n in sorted(names) if n.endswith(".py"))
        for file, relative in files:
            if any(fnmatch.fnmatch(relative, pattern) for pattern in exclude):
                continue
            parts = relative[:-3].split("/")
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            if parts and all(p.isidentifier() for p in parts):
                found.append(SourceModule(".".join(parts), file, relative, is_package))
    return found


def _content_key(sources: Sequence[SourceModule], specs: Sequence[HandlerSpec], settings: ScanSettings,
                 baseline_text: str) -> str:
    digest = hashlib.sha256(f"{ENGINE_VERSION}|{settings.cache_text()}|{baseline_text}".encode())
    for spec in specs:
        digest.update(json.dumps([spec.handler, sorted(spec.environment.items()), list(spec.must_reach)]).encode())
    for source in sorted(sources, key=lambda s: s.relative):
        digest.update(source.relative.encode())
        try:
            digest.update(hashlib.sha256(source.path.read_bytes()).digest())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()


# ---- the scan --------------------------------------------------------------------------------------------------

def scan(target_or_roots: Target | Path | str | Sequence[Path | str],
         handlers: Sequence[str | HandlerSpec] | None = None,
         settings: ScanSettings | ScanModel | None = None, *, bundle: Path | None = None, use_cache: bool = True,
         source_roots: Sequence[Path] = (), apply_baseline: bool = True) -> ScanReport:
    """Scan deployable code for stubs on the handlers' paths.

    `target_or_roots` is a Target (its scan.paths, or `bundle`, or its bundle output folder; its functions'
    handlers, environments and scan settings) or one or more folders with explicit `handlers`.
    """
    started = time.perf_counter()
    if isinstance(target_or_roots, Target):
        target = target_or_roots
        resolved_settings = settings if isinstance(settings, ScanSettings) else ScanSettings.from_model(
            settings if isinstance(settings, ScanModel) else target.scan)
        roots = tuple(target.scan.paths) or ((bundle or target.bundle.output),)
        specs = [_spec(h, resolved_settings) for h in handlers] if handlers else handler_specs(target,
                                                                                                resolved_settings)
        source_roots = tuple(source_roots) or target.source_roots() or ((target.base_dir,) if target.source_path
                                                                         else ())
    else:
        raw = [target_or_roots] if isinstance(target_or_roots, str | Path) else list(target_or_roots)
        roots = tuple(Path(r) for r in raw)
        resolved_settings = settings if isinstance(settings, ScanSettings) else (
            ScanSettings.from_model(settings) if isinstance(settings, ScanModel) else ScanSettings())
        specs = [_spec(h, resolved_settings) for h in handlers or ()]
    if not specs:
        raise HandlerError("the scan needs at least one handler (MODULE.FUNCTION), e.g. --handler app.handler")
    for spec in specs:
        parse_handler(spec.handler)
    for root in roots:
        if not root.is_dir():
            raise BundleError("is not a folder (nothing to scan)", where=str(root))

    baseline_text = ""
    if apply_baseline and resolved_settings.baseline is not None and resolved_settings.baseline.exists():
        baseline_text = resolved_settings.baseline.read_text(encoding="utf-8", errors="replace")
    elif apply_baseline and resolved_settings.baseline is not None:
        read_baseline(resolved_settings.baseline)  # raises: a configured baseline must exist

    cache = cache_dir() / "scan"
    sources: list[SourceModule] = []
    for root in roots:
        tops = _cached_tops(cache, root) if use_cache else None
        if tops is None:
            tops = _first_party_tops(root)
            if use_cache:
                _store_tops(cache, root, tops)
        sources.extend(_list_sources(root, tops, resolved_settings.exclude))
    # The content key is only the cache's: a fresh scan (use_cache=False) need not read every file to hash it.
    result_file: Path | None = None
    if use_cache:
        key = _content_key(sources, specs, resolved_settings, f"{apply_baseline}|{baseline_text}")
        result_file = cache / f"result-{key}.json"
    if result_file is not None and result_file.exists():
        try:
            report = ScanReport.from_json(json.loads(result_file.read_text(encoding="utf-8")), roots)
        except (ValueError, KeyError, TypeError):
            report = None
        if report is not None:
            report.display_paths = display_paths(report, roots, source_roots)
            report.seconds = time.perf_counter() - started
            return report

    with _fewer_collections():
        report = _analyse(sources, specs, resolved_settings, apply_baseline)
    report.roots = roots
    if result_file is not None:
        cache.mkdir(parents=True, exist_ok=True)
        temporary = result_file.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(report.to_json()), encoding="utf-8")
        temporary.replace(result_file)
    report.display_paths = display_paths(report, roots, source_roots)
    report.seconds = time.perf_counter() - started
    return report


def _spec(handler: str | HandlerSpec, settings: ScanSettings) -> HandlerSpec:
    if isinstance(handler, HandlerSpec):
        return handler
    must = (*settings.must_reach.get(handler, ()), *settings.must_reach.get("*", ()))
    return HandlerSpec(handler, {}, tuple(dict.fromkeys(must)))


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while the analysis builds its trees and indexes.

    Every syntax tree and index the analysis makes stays alive until it ends, so the collections CPython triggers
    by allocation count (every 700 net allocations) find nothing to free and re-walk a growing heap: about an
    eighth of a fresh scan on the real-world bench. The analysis's own cycles are collected after it, as before;
    mypy raises the threshold for the same reason.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], _ANALYSIS_GC_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _tops_file(cache: Path, root: Path) -> Path:
    return cache / f"tops-{_top_entries_signature(root)}.json"


def _cached_tops(cache: Path, root: Path) -> list[str] | None:
    try:
        data = json.loads(_tops_file(cache, root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [str(t) for t in data] if isinstance(data, list) else None


def _store_tops(cache: Path, root: Path, tops: list[str]) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    _tops_file(cache, root).write_text(json.dumps(tops), encoding="utf-8")


def _analyse(sources: Sequence[SourceModule], specs: Sequence[HandlerSpec], settings: ScanSettings,
             apply_baseline: bool) -> ScanReport:
    by_name: dict[str, SourceModule] = {}
    for source in sources:
        by_name.setdefault(source.name, source)  # an earlier root wins, as on sys.path
    program = Program(by_name)
    scans: list[HandlerScan] = []
    summaries: list[HandlerSummary] = []
    notes: list[str] = []
    for spec in specs:
        handler = parse_handler(spec.handler)
        resolver = Resolver(program, spec.environment)
        graph = CallGraph(program, resolver)
        roots = handler_roots(program, resolver, handler.import_name, handler.function)
        if not roots:
            notes.append(f"handler `{spec.handler}`: module `{handler.import_name}` is not in the scanned code "
                         "(DV102/DV211 report why); nothing was scanned for it")
        elif len(roots) == 1:
            notes.append(f"handler `{spec.handler}`: `{handler.function}` is not a function the scan can resolve "
                         "statically; only the module's import-time code was followed")
        for root in roots:
            graph.add_root(root)
        build(graph)
        scans.append(HandlerScan(spec.handler, graph, spec.must_reach))
        summaries.append(HandlerSummary(spec.handler, len(roots) > 1, len(graph.reached_functions())))
    context = RuleContext(program, scans, orphan_min_lines=settings.orphan_min_lines,
                          fail_on_todo=settings.fail_on_todo)
    raw = run_rules(context)
    baseline = read_baseline(settings.baseline) if apply_baseline and settings.baseline is not None else frozenset()
    findings, suppressed = _suppress(raw, program, settings, baseline)
    for source in program.unparsable:
        notes.append(f"{source.relative} does not parse; it was not scanned")
    return ScanReport(findings=findings, suppressed=suppressed, handlers=summaries,
                      first_party_files=len(by_name), files_parsed=len(program.parsed_modules()), notes=notes)


def _suppress(raw: Iterable[ScanFinding], program: Program, settings: ScanSettings,
              baseline: frozenset[str]) -> tuple[list[ScanFinding], list[tuple[ScanFinding, str]]]:
    inline_by_path: dict[str, list[Any]] = {}
    for module in program.parsed_modules():
        inline_by_path[module.relative] = inline_allows(module.source)
    kept: list[ScanFinding] = []
    suppressed: list[tuple[ScanFinding, str]] = []
    for finding in raw:
        reason = None
        if finding.rule != "DV309":
            for allow in inline_by_path.get(finding.path, ()):
                if allow.reason and finding.rule in allow.rules and finding.line in allow.applies_to:
                    reason = f"inline: {allow.reason}"
                    break
        if reason is None:
            listed = allowed_by(settings.allow, finding.rule, finding.path, finding.subject)
            if listed is not None:
                reason = f"scan.allow: {listed.reason}"
        if reason is None and finding.fingerprint in baseline:
            reason = "baseline"
        if reason is None:
            kept.append(finding)
        else:
            suppressed.append((finding, reason))
    return kept, suppressed



def scan_target(target: Target, bundle: Path | None = None, **options: Any) -> ScanReport:
    """The gate's scan: the target's handlers over its built bundle (or its scan.paths)."""
    return scan(target, bundle=bundle, **options)
