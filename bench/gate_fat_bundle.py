"""Gate wall time on a fat bundle, as a ratio against floors measured in the same run.

    python bench/gate_fat_bundle.py [--image deployverify/lambda-python:3.11] [--rebuild]

Builds (once, cached in bench/out/fat-bundle) a bundle of boto3, pillow, pymupdf, anthropic, psycopg2-binary,
requests, pydantic and sqlalchemy for CPython 3.11 / manylinux2014 plus a tiny first-party handler, then measures:
  parse floor   `ast.parse` of every .py file, in one process
  import floor  importing every module once, in one plain `python -I -S -B` process (bundle first on sys.path)
  container     starting and stopping one container of the image
  gate          `deployverify gate --bundle ...` end to end, probe cache cold
Target: gate <= 1.5 x (parse + import + container). The gate must report no failure for these healthy packages
(optional parts that cannot import are warnings). Prints the numbers and exits 1 when either target is missed.
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

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
PACKAGES = ["boto3", "pillow", "pymupdf", "anthropic", "psycopg2-binary", "requests", "pydantic", "sqlalchemy"]
HANDLER = '''"""A tiny worker that uses the fat dependencies the way real code does."""
import boto3
import fitz
import psycopg2
import requests
from anthropic import Anthropic
from PIL import Image
from pydantic import BaseModel
from sqlalchemy import create_engine


class Event(BaseModel):
    key: str


def handler(event, context):
    return {"key": Event(**event).key, "pil": Image.__name__, "fitz": fitz.__name__}
'''
TARGET_RATIO = 1.5
_IMPORT_ALL = r"""
import json, sys, time
bundle, names = sys.argv[1], json.load(open(sys.argv[2]))
sys.path.insert(0, bundle)
import importlib
ok = 0
for name in names:
    try:
        importlib.import_module(name)
        ok += 1
    except BaseException:
        pass
print("@@floor@@" + json.dumps({"ok": ok, "total": len(names)}))
"""
_PARSE_ALL = r"""
import ast, os, sys
count = 0
for here, dirs, files in os.walk(sys.argv[1]):
    for name in files:
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as handle:
                try:
                    ast.parse(handle.read())
                except (SyntaxError, ValueError):
                    pass
            count += 1
print(count)
"""


def timed(command: list[str], **kwargs: object) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started, done


def build(bundle: Path, rebuild: bool) -> None:
    stamp = bundle.parent / "fat-bundle.json"
    wanted = {"packages": PACKAGES, "handler": HANDLER}
    if not rebuild and bundle.is_dir() and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return
    shutil.rmtree(bundle, ignore_errors=True)
    bundle.mkdir(parents=True)
    print(f"building {bundle} ({', '.join(PACKAGES)})", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
                    str(bundle), "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version",
                    "3.11", "--only-binary=:all:", *PACKAGES], check=True)
    (bundle / "app.py").write_text(HANDLER)
    stamp.write_text(json.dumps(wanted))


def module_names(bundle: Path) -> list[str]:
    from deployverify.gate.probe.imports import BundleIndex
    from deployverify.gate.probe.run_probe import modules_to_probe

    chosen, _ = modules_to_probe(BundleIndex.from_bundle(bundle))
    return [m["name"] for m in chosen]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.environ.get("DV_TEST_IMAGE", "deployverify/lambda-python:3.11"))
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    bundle = OUT / "fat-bundle"
    build(bundle, args.rebuild)
    python_files = sum(1 for _ in bundle.rglob("*.py"))
    names = module_names(bundle)
    work = Path(tempfile.mkdtemp(prefix="dv-bench-"))
    try:
        (work / "names.json").write_text(json.dumps(names))
        parse_s, parsed = timed([sys.executable, "-I", "-c", _PARSE_ALL, str(bundle)])
        import_s, imported = timed([sys.executable, "-I", "-S", "-B", "-c", _IMPORT_ALL, str(bundle),
                                    str(work / "names.json")])
        container_s, started = timed(["docker", "run", "--rm", "--network", "none", "--entrypoint",
                                      "/var/lang/bin/python3.11", args.image, "-c", "pass"])
        if started.returncode != 0:
            print(f"cannot start {args.image}: {started.stderr.strip()}")
            return 2
        env = {**os.environ, "DV_CACHE_DIR": str(work / "cache")}
        gate_s, gated = timed([sys.executable, "-m", "deployverify.cli", "gate", "--bundle", str(bundle), "--handler",
                               "app.handler", "--runtime", "python3.11", "--image", args.image, "--report-dir",
                               str(work / "report")], env=env, cwd=REPO)
        report = json.loads((work / "report" / "report.json").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = parse_s + import_s + container_s
    ratio = gate_s / floor
    failed = [f"{c['id']} {c['status']}: {c['message'][:160]}" for c in report["checks"]
              if c["status"] in ("fail", "error")]
    warnings = sum(1 for c in report["checks"] for f in c["findings"] if f["severity"] == "warning")
    probe = next((e for c in report["checks"] if c["id"] == "DV230" for e in c["evidence"]), "")
    marked = [line for line in imported.stdout.splitlines() if line.startswith("@@floor@@")]
    counts = json.loads(marked[-1][len("@@floor@@"):]) if marked else {"ok": f"? (exit {imported.returncode})"}
    print(f"bundle: {python_files} .py files, {len(names)} modules probed ({counts.get('ok')} import in the floor run)")
    print(f"parse floor     {parse_s:7.2f} s  ({parsed.stdout.strip()} files)")
    print(f"import floor    {import_s:7.2f} s")
    print(f"container start {container_s:7.2f} s")
    print(f"floor total     {floor:7.2f} s")
    print(f"gate            {gate_s:7.2f} s  (exit {gated.returncode}; {probe})")
    print(f"ratio           {ratio:7.2f}  (target <= {TARGET_RATIO})")
    print(f"false failures  {len(failed)}; warning findings {warnings}")
    for line in failed:
        print(f"  {line}")
    return 0 if ratio <= TARGET_RATIO and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
