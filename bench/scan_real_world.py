"""Precision and speed of the stub scan on public Lambda code written by others (bench/real_world/corpus.yaml).

Where the code comes from: each repository of the corpus is read at its pinned commit from a bare git snapshot at
`$DV_REAL_WORLD_MIRROR/<owner>+<name>/repo` (default /work/.mirror, where the workplace's fetch tool puts them); a
plain `git clone --bare https://github.com/<owner>/<name> <that path>` works as well. The pinned commit is
`git archive`d into a temporary folder; nothing of it is kept or committed. Files whose blob a snapshot lacks (the
fetch tool leaves out the largest: jars, data files; none is a .py file in this corpus) are left out of the archive.

Each handler's folder is scanned as that function's code (handlers sharing a folder are scanned together, as one
bundle with several functions), fresh (no result cache). Every finding must carry a hand label in
bench/real_world/labels.yaml (right or wrong, with a one-line reason). The timing compares the scans with the
`ast.parse` floor of the same files (all .py files under the scanned folders, read once beforehand so both
measure warm file caches); each is the fastest of three rounds, since other work on the machine only adds time.

Prints handlers scanned, findings, findings labelled wrong, unlabelled findings and the time ratio. Exits non-zero
when an error-severity finding is labelled wrong, a finding has no label, or the fresh scan takes more than 0.1 x
the floor (the ratio is printed as measured either way). A fresh scan parses the files the handlers reach, so it
cannot be cheaper than parsing them: the 0.1 x target is not met (about 3.3-4.3 x on this corpus, on a busy 2-core
machine; 7-7.6 x before the scan's hot walks were trimmed). Walking the folders and reading the files, with no
parsing at all, is printed as a second floor: on this corpus of small files it alone costs about 0.1 x the parse
floor, so no scan that reads the code, cached or not, can be judged by 0.1 x. The rerun answered from the scan's
content cache (it re-reads and re-hashes every first-party file) is printed beside it for information.

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
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
        for repository, commit, repo_bundles in bundles(corpus):
            into = work / repository.replace("/", "+")
            extract(snapshot(repository), commit, sorted({b.folder for b in repo_bundles}), into)
            plan.extend((b, into / b.folder) for b in repo_bundles)

        os.environ["DV_CACHE_DIR"] = str(work / "cache")  # the scans' cache lives and dies with this run
        files = sorted({f for _, root in plan for f in python_files(root)})
        sources = [f.read_bytes() for f in files]  # warm the file cache for both measurements
        floor = min(_parse_all(files, sources) for _ in range(ROUNDS))
        reading = min(_read_all([root for _, root in plan]) for _ in range(ROUNDS))

        handlers = resolved = 0
        results: list[tuple[Bundle, ScanFinding]] = []
        rounds: list[float] = []
        for attempt in range(ROUNDS):  # the fastest round: other work on the machine only ever adds time
            seconds = 0.0
            for bundle, root in plan:
                specs = [HandlerSpec(h) for h in bundle.handlers]
                started = time.perf_counter()
                report = scan(root, specs, ScanSettings(), use_cache=False)
                seconds += time.perf_counter() - started
                if attempt == 0:
                    handlers += len(specs)
                    resolved += sum(h.resolved for h in report.handlers)
                    results.extend((bundle, f) for f in report.findings)
            rounds.append(seconds)
        scan_seconds = min(rounds)

        # For information: the same scans answered from the scan's content cache (a rerun on unchanged code).
        for bundle, root in plan:
            scan(root, [HandlerSpec(h) for h in bundle.handlers], ScanSettings(), use_cache=True)
        started = time.perf_counter()
        for bundle, root in plan:
            scan(root, [HandlerSpec(h) for h in bundle.handlers], ScanSettings(), use_cache=True)
        cached_seconds = time.perf_counter() - started

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
    ratio = scan_seconds / floor if floor else float("inf")
    print(f"\nhandlers scanned: {handlers} ({resolved} resolved to a function) in {len(plan)} folders, "
          f"{len(files)} .py files")
    print(f"findings: {len(results)} ({', '.join(f'{k}: {v}' for k, v in sorted(by_rule.items())) or 'none'})")
    print(f"findings labelled wrong: {wrong_errors} error, {wrong_warnings} warning; unlabelled: {len(unlabelled)}")
    print(f"time: scan {scan_seconds:.2f}s vs ast.parse floor {floor:.2f}s = {ratio:.2f}x the floor "
          f"(target <= {TIME_TARGET}x); from a warm result cache {cached_seconds:.2f}s = "
          f"{cached_seconds / floor if floor else float('inf'):.2f}x (not judged: nothing is analysed)")
    print(f"reading the same files without parsing them: {reading:.3f}s = {reading / floor if floor else 0:.2f}x the "
          "floor (a lower bound for any scan that looks at the files)")
    ok = wrong_errors == 0 and not unlabelled and ratio <= TIME_TARGET
    if ratio > TIME_TARGET:
        print(f"NOT MET: the scan takes {ratio:.2f}x the parse floor, not <= {TIME_TARGET}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
