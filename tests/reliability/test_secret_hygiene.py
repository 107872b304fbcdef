"""Secret hygiene: a password and a DSN carrying a unique marker are planted in the secret, the environment and the
worker's log lines; gate, smoke and canary run through the real CLI, healthy and failing (the database rejects the
password, the secret is malformed, a DSN pasted into `host` ends in a driver exception). Every output is grepped
for the marker: the terminal, report.json, report.html, junit.xml, summary.md, SARIF, the history file, the step
summary and the worker's log lines taken as evidence. Expected: 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.suites.test_smoke_suite import environment, stack
from tests.support import smoke_env
from tests.support.smoke_env import Job, Resources, Result

pytest_plugins = ("tests.support.smoke_fixtures",)
pytestmark = [pytest.mark.postgres, pytest.mark.slow]
MARKER = f"MRK{uuid.uuid4().hex[:12]}"
PASSWORD = f"pw-{MARKER}"
TOKEN = f"tok-{MARKER}"
ENV_PASSWORD = f"envpw-{MARKER}"


def dsn(resources: Resources) -> str:
    return f"postgresql://{resources.database.username}:{PASSWORD}@127.0.0.1:5432/{resources.database.name}"


def leaky_worker(resources: Resources) -> smoke_env.Behaviour:
    """A correct worker that logs its DSN and token, as careless code does; the lines become DV510/DV511 evidence."""
    def behave(job: Job) -> Result:
        result = smoke_env.correct(job)
        result.lines += [f"connecting to {dsn(resources)}", f"using api token {TOKEN}"]
        return result

    return behave


def run_cli(mode: str, args: list[str], folder: Path, env: dict[str, str], **extra: str) -> tuple[int, str]:
    """The CLI as CI runs it; returns the exit code and everything it wrote (terminal and every file)."""
    summary = folder.parent / f"{folder.name}-step-summary.md"
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", mode, *args, "--report-dir", str(folder), "-v"],
                          capture_output=True, text=True, timeout=600, check=False,
                          env={**env, "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true",
                               # Its own value, so the secret's password is masked by the secret's registration
                               # and this one by the environment's.
                               "DB_PASSWORD": ENV_PASSWORD, "DATABASE_URL": f"postgresql://app:{ENV_PASSWORD}@db/app",
                               **extra})
    files = [p for p in folder.rglob("*") if p.is_file()] + ([summary] if summary.exists() else [])
    assert folder.joinpath("report.json").exists(), done.stdout + done.stderr
    return done.returncode, done.stdout + done.stderr + "".join(p.read_text(errors="replace") for p in files)


def smoke_run(resources: Resources, tmp_path: Path, target: Path, name: str, *extra: str,
              mode: str = "smoke", **env: str) -> tuple[int, str, dict[str, str]]:
    folder = tmp_path / name
    code, output = run_cli(mode, ["-c", str(target), "--run-id", f"dv-test-{resources.prefix}-{name}", *extra],
                           folder, environment(resources, tmp_path), **env)
    statuses = {c["id"]: c["status"] for c in json.loads((folder / "report.json").read_text())["checks"]}
    history = tmp_path / "history.jsonl"
    return code, output + (history.read_text() if history.exists() else ""), statuses


def test_gate_never_shows_the_environments_secrets(tmp_path: Path) -> None:
    bundle = smoke_env.small_bundle(tmp_path / "bundle")
    # A module that echoes the environment at import: whatever the probe shows of it must hold no secret.
    (bundle / "leaky_settings.py").write_text(
        "import os\nraise RuntimeError('settings: ' + repr(dict(os.environ)) + ' ' + "
        "str(os.environ.get('DB_PASSWORD')) + ' ' + str(os.environ.get('DATABASE_URL')))\n")
    code, output = run_cli("gate", ["--bundle", str(bundle), "--handler", "process_document_lambda.handler",
                                    "--runtime", "python3.11", "-k", "DV2 or DV3"], tmp_path / "gate",
                           {**os.environ, "DV_CACHE_DIR": str(tmp_path / "cache")})
    print(f"gate (exit {code}): marker found {output.count(MARKER)} time(s) in {len(output)} characters")
    assert code == 1
    assert "leaky_settings" in output
    assert output.count(MARKER) == 0


def test_redaction_is_structural_dsn_passwords_and_the_environment(tmp_path: Path) -> None:
    """What no pattern over the output could catch: a DSN's password quoted alone (percent-decoded, as a driver
    reports it) after the DSN sat under an identifier key, and an environment secret echoed in free text."""
    from deployverify.core import redact

    redact.register_mapping({"host": f"postgresql://app:{PASSWORD.replace('-', '%2D')}@db/app", "port": 5432})
    redact.register_environment({"SERVICE_TOKEN": TOKEN, "HOME": "/root"})
    lines = [f"server rejected {PASSWORD} for user app", f"header Authorization: Bearer {TOKEN}",
             f"libpq: host=db password={PASSWORD}x"]
    masked = redact.redact_all(lines)
    print("masked:", masked)
    assert sum(line.count(MARKER) for line in masked) == 0
    assert redact.redact("HOME is /root") == "HOME is /root"  # names, not every value, mark a secret


def test_smoke_and_canary_never_show_the_secret_healthy_or_failing(resources: Resources, tmp_path: Path) -> None:
    resources.secret_value.update(api_token=TOKEN, replica_dsn=dsn(resources))
    history = tmp_path / "history.jsonl"
    counts: dict[str, int] = {}
    with stack(resources, tmp_path, leaky_worker(resources), history=str(history)) as target:
        code, output, statuses = smoke_run(resources, tmp_path, target, "healthy", "-k", "DV4 or DV5")
        assert (code, statuses["DV510"]) == (0, "pass"), output[-3000:]
        # The grep reads real evidence: the worker's leaky lines were captured, masked.
        assert "connecting to ***" in output
        assert "using api token ***" in output
        counts["smoke, healthy"] = output.count(MARKER)

        code, output, statuses = smoke_run(resources, tmp_path, target, "canary", "-k", "DV40 or DV41 or DV61",
                                           mode="canary")
        assert statuses["DV610"] == "pass", output[-3000:]
        counts["canary"] = output.count(MARKER)

        secrets = resources.client("secretsmanager")
        failing = {
            "password rejected": json.dumps({**resources.secret_value, "password": PASSWORD}),
            "malformed secret": '{"password": "' + PASSWORD + '", "host": ',
            "DSN in host": json.dumps({**resources.secret_value, "host": dsn(resources)}),
            # Not a string: the driver raises with the value in its message.
            "password as an object": json.dumps({**resources.secret_value, "password": {"value": PASSWORD}}),
        }
        for name, secret in failing.items():
            secrets.put_secret_value(SecretId=resources.secret_id, SecretString=secret)
            code, output, statuses = smoke_run(resources, tmp_path, target, name.replace(" ", "-"), "-k", "DV4")
            assert code == 1, (name, statuses)
            counts[f"smoke, {name}"] = output.count(MARKER)
            print(f"{name}: {statuses}")
        # A check that crashes with the password in its exception: an `error` result, traceback as evidence.
        secrets.put_secret_value(SecretId=resources.secret_id, SecretString=failing["password rejected"])
        code, output, statuses = smoke_run(resources, tmp_path, target, "crash", "-k", "DV4",
                                           PYTEST_ADDOPTS="-p tests.reliability.crash_plugin",
                                           DV_TEST_CRASH_WITH=PASSWORD)
        assert statuses["DV410"] == "error", statuses
        assert "could not log in with password *** to the database" in output
        counts["smoke, a check crashing with it"] = output.count(MARKER)
    print("marker occurrences per run:", counts)
    assert counts == dict.fromkeys(counts, 0)


def test_settings_named_like_secrets_do_not_mask_ordinary_text() -> None:
    from deployverify.core import redact

    redact.register_environment({"TOKENIZERS_PARALLELISM": "false", "GIT_ASKPASS": "/usr/bin/ksshaskpass",
                                 "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.2/v2/credentials",
                                 "API_TOKEN": TOKEN})
    ordinary = '{"ok": false, "tool": "/usr/bin/ksshaskpass"}'
    assert redact.redact(ordinary) == ordinary
    assert redact.redact(f"token {TOKEN}") == "token ***"
