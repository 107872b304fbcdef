"""Gate wall time on an application of 10 functions sharing the fat dependency set, against one such function.

    python bench/gate_many_functions.py [--image deployverify/lambda-python:3.11] [--functions 10] [--rebuild]

Uses the fat bundle of bench/gate_fat_bundle.py (boto3, pillow, pymupdf, anthropic, psycopg2-binary, requests,
pydantic, sqlalchemy for CPython 3.11 / manylinux2014; built once, cached in bench/out/fat-bundle) with N small
handler modules added, as in a SAM application whose functions share one CodeUri and its requirements. Measures, in
one run and each with a cold cache:
  one function   `deployverify gate` on a target file with one of the functions
  N functions    `deployverify gate` on a target file with all N (each checked in its own right, the shared bundle
                 built, indexed and probed once)
Target: N functions <= 1.5 x one function, and no failure for these healthy packages. Prints the numbers and exits 1
when either is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from gate_fat_bundle import HANDLER, OUT, build  # noqa: E402 - the fat bundle is the other bench's, built once

TARGET_RATIO = 1.5
# Each function does something different with the shared dependencies, as the functions of one application do.
FUNCTION = '''"""Function {n} of the application: its own handler over the shared dependencies."""
import boto3
import requests
from pydantic import BaseModel


class Event{n}(BaseModel):
    key: str


def handler(event, context):
    return {{"function": {n}, "key": Event{n}(**event).key, "session": type(boto3.Session).__name__,
            "http": requests.__name__}}
'''


def application_bundle(fat: Path, folder: Path, functions: int) -> Path:
    """The fat bundle plus one handler module per function; hard links keep the copy cheap."""
    bundle = folder / "bundle"
    done = subprocess.run(["cp", "-al", str(fat), str(bundle)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.copytree(fat, bundle, symlinks=True)
    for n in range(functions):
        (bundle / f"function_{n}.py").write_text(FUNCTION.format(n=n))
    return bundle


def target_file(folder: Path, name: str, bundle: Path, functions: int) -> Path:
    lines = [f"name: {name}", "runtime: python3.11", "bundle:", f"  output: {json.dumps(str(bundle))}", "functions:"]
    for n in range(functions):
        lines += [f"  - name: Function{n}", f"    handler: function_{n}.handler"]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def gate(target: Path, image: str, work: Path, label: str) -> tuple[float, dict[str, object], int]:
    env = {**os.environ, "DV_CACHE_DIR": str(work / f"cache-{label}")}  # cold: nothing probed before
    report_dir = work / f"report-{label}"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "gate", "-c", str(target), "--image", image,
                           "--report-dir", str(report_dir)], capture_output=True, text=True, env=env, cwd=REPO,
                          check=False)
    seconds = time.perf_counter() - started
    report: dict[str, object] = json.loads((report_dir / "report.json").read_text())
    return seconds, report, done.returncode


def failures(report: dict[str, object]) -> list[str]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return [f"{c.get('function', '-')} {c['id']} {c['status']}: {c['message'][:160]}" for c in checks
            if c["status"] in ("fail", "error")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.environ.get("DV_TEST_IMAGE", "deployverify/lambda-python:3.11"))
    parser.add_argument("--functions", type=int, default=10)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    fat = OUT / "fat-bundle"
    build(fat, args.rebuild)
    assert "def handler" in HANDLER  # the fat bundle's own app.py stays; the functions are added beside it
    work = Path(tempfile.mkdtemp(prefix="dv-bench-many-"))
    try:
        bundle = application_bundle(fat, work, args.functions)
        one_s, one_report, one_exit = gate(target_file(work, "one-function", bundle, 1), args.image, work, "one")
        many_s, many_report, many_exit = gate(target_file(work, "application", bundle, args.functions), args.image,
                                              work, "many")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = failures(one_report) + failures(many_report)
    checks = many_report["checks"]
    assert isinstance(checks, list)
    named = sorted({c["function"] for c in checks if "function" in c})
    ratio = many_s / one_s
    print(f"one function      {one_s:7.2f} s  (exit {one_exit})")
    print(f"{args.functions} functions     {many_s:7.2f} s  (exit {many_exit}; results name {len(named)} functions)")
    print(f"ratio             {ratio:7.2f}  (target <= {TARGET_RATIO})")
    print(f"false failures    {len(failed)}")
    for line in failed:
        print(f"  {line}")
    return 0 if ratio <= TARGET_RATIO and not failed and len(named) == args.functions else 1


if __name__ == "__main__":
    raise SystemExit(main())
