"""How long the canary's operational checks take over a busy day: a seeded 24 h window of 10,000 invocations.

    python bench/canary_window.py [--invocations 10000] [--target-s 10]

Starts a moto server on loopback and a scratch database on the test Postgres (DV_TEST_DATABASE_URL), creates one
test's resources (function, queues, log group, secret), and seeds the window: AWS/Lambda Invocations, Errors and
Duration datapoints and one REPORT line per invocation spread over 24 h, a day of documents in the status table,
and the seed's three EventBridge schedules. Then it runs `deployverify canary -k "DV61 or DV62"` (DV610-DV621, the
operational checks) through the real CLI, and prints the whole command's wall time (Python and pytest startup
included) against the target, with each check's own time from report.json. Exits 1 on a missed target.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg2
from psycopg2 import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import canary_seed as seed  # noqa: E402
from tests.support.env import TEST_DATABASE_URL  # noqa: E402
from tests.support.moto import moto_server  # noqa: E402
from tests.support.smoke_env import EXAMPLE, REGION, Database, Resources, small_bundle  # noqa: E402

SCHEDULES = [("check-expiring-licenses-daily", "cron(0 8 * * ? *)"),
             ("send-daily-digest-emails", "cron(0 9 * * ? *)"),
             ("send-weekly-digest-emails", "cron(0 9 ? * MON *)")]


def scratch_database() -> tuple[Database, str]:
    url = urlparse(TEST_DATABASE_URL)
    name = f"dv_bench_{secrets.token_hex(4)}"
    admin = psycopg2.connect(TEST_DATABASE_URL, connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    database = Database(url.hostname or "127.0.0.1", url.port or 5432, url.username or "", url.password or "", name)
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute((EXAMPLE / "schema.sql").read_text())
    return database, name


def drop(name: str) -> None:
    admin = psycopg2.connect(TEST_DATABASE_URL, connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


def seed_window(resources: Resources, invocations: int) -> None:
    durations = [800.0 + (i * 7919) % 40000 for i in range(invocations)]  # 0.8-40.8 s, spread
    seed.lambda_metrics(resources.client("cloudwatch"), resources.function, Invocations=[1.0] * invocations,
                        Errors=[0.0] * 1440, Duration=durations)
    seed.report_lines(resources.client("logs"), resources.log_group, durations, spread_s=23.5 * 3600)
    seed.add_rows(resources.database, "processed", 150, age_s=6 * 3600)
    seed.add_rows(resources.database, "failed", 2, age_s=6 * 3600)
    events = resources.client("events")
    for name, expression in SCHEDULES:
        seed.schedule_rule(events, f"{resources.prefix}-{name}", expression, resources.function)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=10000)
    parser.add_argument("--target-s", type=float, default=10.0)
    args = parser.parse_args()
    database, db_name = scratch_database()
    try:
        with moto_server() as url, tempfile.TemporaryDirectory(prefix="dv-bench-canary-") as tmp:
            folder = Path(tmp)
            resources = Resources(url=url, prefix=f"dvb{secrets.token_hex(4)}", database=database,
                                  secret_value=database.secret())
            bundle = small_bundle(folder / "bundle")
            resources.create(bundle=bundle)
            canary = {"window_min": 1440, "ai_cost_per_document_usd": 0.023, "budget_usd_month": 500,
                      "schedules": [{"function": "DocumentWorkerFunction", "expression": e,
                                     "rule": f"{resources.prefix}-{n}"} for n, e in SCHEDULES],
                      "phases": [{"name": "infrastructure", "checks": ["DV612"]}]}
            target = resources.target(folder, bundle, canary=canary)
            started = time.perf_counter()
            seed_window(resources, args.invocations)
            seeded = time.perf_counter() - started
            env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_REGION": REGION, "DV_CACHE_DIR": str(folder / "cache"), "PATH": "/usr/bin:/bin"}
            report_dir = folder / "report"
            command = [sys.executable, "-m", "deployverify.cli", "canary", "-c", str(target), "--report-dir",
                       str(report_dir), "-k", "DV61 or DV62"]
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
            elapsed = time.perf_counter() - started
            report = json.loads((report_dir / "report.json").read_text()) if (report_dir / "report.json").exists() \
                else {"checks": []}
    finally:
        drop(db_name)
    print(f"seeded {args.invocations:,} invocations (metrics and REPORT lines) over 24 h in {seeded:.1f}s")
    for check in report["checks"]:
        print(f"  {check['id']} {check['status']:5} {check['duration_s']:6.2f}s  {check['message'][:90]}")
    ratio = elapsed / args.target_s
    print(f"deployverify canary (operational checks, whole command): {elapsed:.2f}s = {ratio:.2f}x the "
          f"{args.target_s:g}s target")
    passed = all(c["status"] == "pass" for c in report["checks"]) and len(report["checks"]) == 12
    if not passed:
        print(f"the seeded healthy window did not pass every check (exit {done.returncode}):\n{done.stdout[-2000:]}"
              f"\n{done.stderr[-2000:]}")
    ok = ratio <= 1.0 and passed
    print("result:", "ok" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
