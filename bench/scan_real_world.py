"""Precision and speed of the stub scan on public Lambda code written by others (bench/real_world/corpus.yaml).

Where the code comes from: each repository of the corpus is read at its pinned commit from a bare git snapshot at
`$DV_REAL_WORLD_MIRROR/<owner>+<name>/repo` (default /work/.mirror, where the workplace's fetch tool puts them); a
plain `git clone --bare https://github.com/<owner>/<name> <that path>` works as well. The pinned commit is
`git archive`d into a temporary folder; nothing of it is kept or committed. Files whose blob a snapshot lacks (the
fetch tool leaves out the largest: jars, data files; none is a .py file in this corpus) are left out of the archive.

Each handler's folder is scanned as that function's code (handlers sharing a folder are scanned together, as one
bundle with several functions), fresh (no result cache). Every finding must carry a hand label in
bench/real_world/labels.yaml (right or wrong, with a one-line reason).

The timing compares the scans with the `ast.parse` floor of the same files (every .py file under the scanned
folders, read once beforehand so both sides measure warm file caches; each the fastest of three rounds, since other
work on the machine only adds time), twice:
1. The source folders as fetched. A fresh scan parses the files the handlers reach, and these folders hold little
   else, so it cannot be cheaper than parsing them: about 3.3-4.3 x here (7-7.6 x before the scan's hot walks were
   trimmed). Reading the files without parsing them is printed too (about 0.06-0.09 x): not even a scan answered
   from its content cache (printed for information) can reach 0.1 x of this floor. Not judged.
2. The same folders as deployable bundles, which is what the gate scans: requirements.txt installed beside the code
   for the Lambda platform (built_bundles.py; kept in a cache outside the repository). The floor is what any
   AST-based tool pays on the bundle (as in bench/scan_speed.py); the scan never opens third-party code. Judged:
   <= 0.1 x, and the findings must be exactly those of the source folders (third-party code changes nothing).

Exits non-zero when an error-severity finding is labelled wrong, a finding has no label, the bundles' findings
differ from the sources', or the bundles' scan takes more than 0.1 x their floor. Every ratio is printed as measured.

    python bench/scan_real_world.py [--verbose] [--unlabelled-yaml]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent / "real_world"))

from built_bundles import BuiltBundle, cache_root, deployable_bundle  # beside the corpus it builds

from deployverify.core.results import Severity
from deployverify.gate.stubscan.findings import ScanFinding
from deployverify.gate.stubscan.scan import HandlerSpec, ScanSettings, scan

HERE = Path(__file__).resolve().parent / "real_world"
TIME_TARGET = 0.1
ROUNDS = 3


@dataclass(frozen=True)
class Bundle:
    repository: str
    folder: str  # repository-relative folder scanned as one function's code
    handlers: tuple[str, ...]  # module.function, as Lambda's Handler setting


def snapshot(repository: str) -> Path:
    mirror = Path(os.environ.get("DV_REAL_WORLD_MIRROR", "/work/.mirror"))
    gitdir = mirror / repository.replace("/", "+") / "repo"
    if not gitdir.is_dir():
        raise SystemExit(f"no snapshot of {repository} at {gitdir}: fetch it, or `git clone --bare "
                         f"https://github.com/{repository} {gitdir}`, or set DV_REAL_WORLD_MIRROR")
    return gitdir


def absent_paths(gitdir: Path, commit: str) -> list[str]:
    """Paths at the commit whose blob the snapshot lacks: the fetch tool leaves out a repository's largest files
    (jars, data files), and `git archive` fails on any of them, even outside the folders it is asked for."""
    listing = subprocess.run(["git", "--git-dir", str(gitdir), "ls-tree", "-r", "-z", commit],
                             check=True, capture_output=True, timeout=600).stdout
    paths_by_blob: dict[str, list[str]] = defaultdict(list)
    for entry in filter(None, listing.split(b"\0")):
        meta, _, path = entry.partition(b"\t")
        kind, blob = meta.split()[1:3]
        if kind == b"blob":
            paths_by_blob[blob.decode()].append(path.decode("utf-8", "surrogateescape"))
    checked = subprocess.run(["git", "--git-dir", str(gitdir), "cat-file", "--batch-check"],
                             input="".join(f"{b}\n" for b in paths_by_blob).encode(), check=True,
                             capture_output=True, timeout=600).stdout.decode().splitlines()
    return sorted(p for line in checked if line.endswith(" missing") for p in paths_by_blob[line.split()[0]])


def extract(gitdir: Path, commit: str, folders: list[str], into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    excluded = [f":(exclude,literal){p}" for p in absent_paths(gitdir, commit)]
    archive = subprocess.run(["git", "--git-dir", str(gitdir), "archive", "--format=tar", commit, "--", *folders,
                              *excluded], check=True, capture_output=True, timeout=600).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=600)


def bundles(corpus: dict[str, object]) -> list[tuple[str, str, list[Bundle]]]:
    found = []
    for entry in corpus["repositories"]:  # type: ignore[attr-defined]
        by_folder: dict[str, list[str]] = defaultdict(list)
        for item in entry["handlers"]:
            path, _, function = item.rpartition(":")
            folder, _, file = path.rpartition("/")
            by_folder[folder].append(f"{file[:-3]}.{function}")
        found.append((entry["repository"], entry["commit"],
                      [Bundle(entry["repository"], f, tuple(h)) for f, h in sorted(by_folder.items())]))
    return found


def label_key(repository: str, folder: str, finding: ScanFinding) -> str:
    return f"{repository}|{folder}/{finding.path}|{finding.line}|{finding.rule}"


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _parse_all(files: list[Path], sources: list[bytes]) -> float:
    started = time.perf_counter()
    for file, source in zip(files, sources, strict=True):
        with contextlib.suppress(SyntaxError, ValueError):
            ast.parse(source, filename=str(file))
    return time.perf_counter() - started


def _read_all(roots: list[Path]) -> float:
    """Only opening and reading every .py file under the scanned folders, with no parsing: what any scan of them,
    even one answered from a content cache, has to pay at least once to know the code is the same."""
    started = time.perf_counter()
    for root in roots:
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in names:
                if name.endswith(".py"):
                    with open(os.path.join(folder, name), "rb") as handle:
                        handle.read()
    return time.perf_counter() - started


def _timed_scans(plan: list[tuple[Bundle, Path]]) -> tuple[list[float], int, int, list[tuple[Bundle, ScanFinding]]]:
    """Per folder, the fastest of ROUNDS fresh scans (other work on the machine only ever adds time), with the
    first round's handlers, resolved handlers and findings."""
    handlers = resolved = 0
    results: list[tuple[Bundle, ScanFinding]] = []
    fastest = [float("inf")] * len(plan)
    for attempt in range(ROUNDS):
        for index, (bundle, root) in enumerate(plan):
            specs = [HandlerSpec(h) for h in bundle.handlers]
            started = time.perf_counter()
            report = scan(root, specs, ScanSettings(), use_cache=False)
            fastest[index] = min(fastest[index], time.perf_counter() - started)
            if attempt == 0:
                handlers += len(specs)
                resolved += sum(h.resolved for h in report.handlers)
                results.extend((bundle, f) for f in report.findings)
    return fastest, handlers, resolved, results


def _parse_floor(roots: list[Path]) -> tuple[list[float], int]:
    """Per root, ast.parse of every .py file under it (each root's own files: two bundles that vendor boto3 each
    make the scan face it), read once beforehand so both sides measure warm file caches; fastest of ROUNDS."""
    floors: list[float] = []
    count = 0
    for root in roots:
        files = python_files(root)
        sources = [f.read_bytes() for f in files]
        floors.append(min(_parse_all(files, sources) for _ in range(ROUNDS)))
        count += len(files)
    return floors, count


def _split_ratio(scans: list[float], floors: list[float], built: list[BuiltBundle]) -> str:
    """The ratio apart for folders that are their own bundle and folders with dependencies installed."""
    parts = []
    for name, keep in (("with no dependency to install", False), ("with dependencies installed", True)):
        chosen = [i for i, b in enumerate(built) if bool(b.requirements) is keep]
        floor = sum(floors[i] for i in chosen)
        parts.append(f"{len(chosen)} folders {name}: {sum(scans[i] for i in chosen) / floor if floor else 0:.3f}x")
    return "; ".join(parts)


def _built(plan: list[tuple[Bundle, Path]], commits: dict[str, str]) -> list[tuple[Bundle, BuiltBundle]]:
    with ThreadPoolExecutor(max_workers=4) as pool:  # pip downloads and unpacks: more waiting than computing
        return list(zip((b for b, _ in plan), pool.map(
            lambda item: deployable_bundle(item[1], f"{item[0].repository}@{commits[item[0].repository]}:"
                                                    f"{item[0].folder}"), plan), strict=True))


def _same_findings(a: list[tuple[Bundle, ScanFinding]], b: list[tuple[Bundle, ScanFinding]]) -> bool:
    def key(item: tuple[Bundle, ScanFinding]) -> tuple[str, str, str, int, str, str]:
        bundle, finding = item
        return bundle.repository, bundle.folder, finding.path, finding.line, finding.rule, finding.message
    return sorted(map(key, a)) == sorted(map(key, b))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print every finding with its label")
    parser.add_argument("--unlabelled-yaml", action="store_true", help="print unlabelled findings as labels.yaml "
                                                                       "entries to fill in by hand")
    args = parser.parse_args()
    corpus = yaml.safe_load((HERE / "corpus.yaml").read_text(encoding="utf-8"))
    labels = {f"{x['repository']}|{x['path']}|{x['line']}|{x['rule']}": x
              for x in yaml.safe_load((HERE / "labels.yaml").read_text(encoding="utf-8"))["labels"] or []}
    with tempfile.TemporaryDirectory(prefix="dv-real-world-") as temporary:
        work = Path(temporary)
        plan: list[tuple[Bundle, Path]] = []
        commits: dict[str, str] = {}
        for repository, commit, repo_bundles in bundles(corpus):
            into = work / repository.replace("/", "+")
            extract(snapshot(repository), commit, sorted({b.folder for b in repo_bundles}), into)
            plan.extend((b, into / b.folder) for b in repo_bundles)
            commits[repository] = commit
        os.environ["DV_CACHE_DIR"] = str(work / "cache")  # the scans' cache lives and dies with this run

        # 1. The handlers' source folders, as fetched.
        floors, file_count = _parse_floor([root for _, root in plan])
        floor = sum(floors)
        reading = min(_read_all([root for _, root in plan]) for _ in range(ROUNDS))
        scans, handlers, resolved, results = _timed_scans(plan)
        scan_seconds = sum(scans)
        for bundle, root in plan:  # for information: a rerun answered from the scan's content cache
            scan(root, [HandlerSpec(h) for h in bundle.handlers], ScanSettings(), use_cache=True)
        started = time.perf_counter()
        for bundle, root in plan:
            scan(root, [HandlerSpec(h) for h in bundle.handlers], ScanSettings(), use_cache=True)
        cached_seconds = time.perf_counter() - started

        # 2. The same folders as deployable bundles (requirements installed), which is what the gate scans.
        print(f"building the deployable bundles (cached in {cache_root()}) ...", file=sys.stderr)
        built = _built(plan, commits)
        bundle_plan = [(bundle, b.path) for bundle, b in built]
        bundle_floors, bundle_files = _parse_floor([root for _, root in bundle_plan])
        bundle_floor = sum(bundle_floors)
        bundle_scans, _, _, bundle_results = _timed_scans(bundle_plan)
        bundle_seconds = sum(bundle_scans)

    wrong_errors = wrong_warnings = 0
    unlabelled: list[tuple[Bundle, ScanFinding]] = []
    by_rule: dict[str, int] = defaultdict(int)
    for bundle, finding in results:
        by_rule[f"{finding.rule} {finding.severity.value}"] += 1
        label = labels.get(label_key(bundle.repository, bundle.folder, finding))
        if label is None:
            unlabelled.append((bundle, finding))
            verdict = "UNLABELLED"
        else:
            verdict = f"{label['label']}: {label['reason']}"
            if label["label"] == "wrong":
                wrong_errors += finding.severity is Severity.ERROR
                wrong_warnings += finding.severity is not Severity.ERROR
        if args.verbose or label is None:
            print(f"{bundle.repository} {bundle.folder}/{finding.path}:{finding.line} {finding.rule} "
                  f"{finding.severity.value} {finding.message}\n    -> {verdict}")
    if args.unlabelled_yaml:
        print(yaml.safe_dump({"labels": [
            {"repository": b.repository, "path": f"{b.folder}/{f.path}", "line": f.line, "rule": f.rule,
             "severity": f.severity.value, "label": "?", "reason": "?"} for b, f in unlabelled]}, sort_keys=False))
    with_requirements = [b for _, b in built if b.requirements]
    skipped = sum(len(b.skipped) for b in with_requirements)
    same = _same_findings(results, bundle_results)
    ratio = scan_seconds / floor if floor else float("inf")
    bundle_ratio = bundle_seconds / bundle_floor if bundle_floor else float("inf")
    print(f"\nhandlers scanned: {handlers} ({resolved} resolved to a function) in {len(plan)} folders, "
          f"{file_count} .py files")
    print(f"findings: {len(results)} ({', '.join(f'{k}: {v}' for k, v in sorted(by_rule.items())) or 'none'})")
    print(f"findings labelled wrong: {wrong_errors} error, {wrong_warnings} warning; unlabelled: {len(unlabelled)}")
    print(f"source folders: scan {scan_seconds:.2f}s vs ast.parse floor {floor:.2f}s = {ratio:.2f}x the floor; "
          f"reading the files without parsing {reading / floor if floor else 0:.2f}x; a rerun from the content cache "
          f"{cached_seconds / floor if floor else float('inf'):.2f}x (for information)")
    print(f"deployable bundles ({len(with_requirements)} folders with a requirements.txt installed, {skipped} "
          f"requirement(s) without a wheel skipped; {bundle_files} .py files): scan {bundle_seconds:.2f}s vs "
          f"ast.parse floor {bundle_floor:.2f}s = {bundle_ratio:.3f}x the floor (target <= {TIME_TARGET}x); "
          f"apart: {_split_ratio(bundle_scans, bundle_floors, [b for _, b in built])}")
    print(f"findings on the bundles equal the findings on the source folders: {'yes' if same else 'NO'}")
    ok = wrong_errors == 0 and not unlabelled and same and bundle_ratio <= TIME_TARGET
    if bundle_ratio > TIME_TARGET:
        print(f"NOT MET: the scan of the bundles takes {bundle_ratio:.3f}x their parse floor, not <= {TIME_TARGET}x")
    if not same:
        print("NOT MET: the bundles' third-party code changed the findings (the scan must never open it)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
