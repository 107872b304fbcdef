"""The confined import probe: no network, /var/task read-only, time and memory capped per module, nothing of the
host visible. A bundle module spies on its sandbox (environment, AWS credentials, the home folder, a TCP listener
on the host's docker bridge address that the host itself can reach) and reports what it saw; a module that hangs
and one that allocates without bound are stopped at their limits and reported, and the probe goes on.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployverify.gate.probe.run_probe import OFFLINE_AWS_ENV, ProbeOutcome, run_probe
from deployverify.gate.probe.selection import Selection
from deployverify.target import target_from_bundle
from tests.support.env import TEST_IMAGE, require_bwrap, require_docker

PLACEHOLDER_CREDENTIALS = {k: v for k, v in OFFLINE_AWS_ENV.items()
                           if k.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION"))}
MARKER = f"HOSTMRK{uuid.uuid4().hex[:10]}"
MODULE_LIMIT_S = 3
MEMORY_LIMIT_MB = 256

SPY = """
import json, os, socket
seen = {{"env_marker": any("{marker}" in v for v in os.environ.values()),
        "aws_keys": {{k: v for k, v in os.environ.items()
                     if k.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION"))}},
        "home_visible": os.path.exists({home!r}), "credentials_visible": os.path.exists({credentials!r}),
        "home_env": os.environ.get("HOME")}}
try:
    open("/var/task/written-by-probe", "w").close()
    seen["task_writable"] = True
except OSError as exc:
    seen["task_writable"] = type(exc).__name__
try:
    socket.create_connection(({host!r}, {port}), timeout=3).close()
    seen["network"] = "connected"
except OSError as exc:
    seen["network"] = type(exc).__name__
raise RuntimeError("SPY" + json.dumps(seen, sort_keys=True))
"""


@pytest.fixture
def bridge_listener() -> Iterator[tuple[str, int, list[int]]]:
    """A TCP listener on the host's non-loopback address (the docker bridge gateway where there is one): reachable
    from the host, so a sandbox that connects to it has a network. Yields host, port and the accepted count."""
    host = _bridge_address()
    server = socket.create_server((host, 0))
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        socket.create_connection((host, port), timeout=3).close()  # the control: the host reaches it
        assert _wait_for_count(accepted, 1), "the listener is not reachable from the host itself"
        accepted.clear()
        yield host, port, accepted
    finally:
        stop.set()
        thread.join(5)
        server.close()


def _wait_for_count(accepted: list[int], count: int) -> bool:
    done = threading.Event()
    for _ in range(50):
        if len(accepted) >= count:
            return True
        done.wait(0.1)
    return False


def _bridge_address() -> str:
    found = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=False)
    for word in found.stdout.split():
        if "/" in word and word[0].isdigit():
            return word.split("/")[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # the address the default route leaves from
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])


def spy_bundle(root: Path, home: Path, host: str, port: int) -> Path:
    bundle = root / "bundle"
    bundle.mkdir()
    (bundle / "app.py").write_text("def handler(event, context):\n    return {}\n")
    (bundle / "hangs.py").write_text("while True:\n    pass\n")
    (bundle / "hog.py").write_text("blocks = []\nwhile True:\n    blocks.append(bytearray(32 * 1024 * 1024))\n")
    (bundle / "spy.py").write_text(SPY.format(marker=MARKER, home=str(home), port=port, host=host,
                                              credentials=str(home / ".aws" / "credentials")))
    (bundle / "zz_after.py").write_text("VALUE = 1\n")
    return bundle


@pytest.fixture
def host_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The host holds a marked secret in its environment, AWS keys and a home folder with credentials."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(f"[default]\naws_secret_access_key = {MARKER}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DV_HOST_SECRET", MARKER)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", f"AKIA{MARKER}")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MARKER)
    monkeypatch.setenv("DV_PROBE_MODULE_MEMORY_MB", str(MEMORY_LIMIT_MB))
    return home


def _selection(kind: str) -> Selection:
    if kind == "docker":
        require_docker()
        from deployverify.gate.probe import docker_sandbox

        return Selection(docker_sandbox.connect(TEST_IMAGE, "3.11", pull=False), "test", False, TEST_IMAGE)
    require_bwrap()
    from deployverify.gate.probe import bubblewrap

    return Selection(bubblewrap.connect("3.11"), "test", True, TEST_IMAGE)


@pytest.mark.parametrize("kind", ["docker", "bubblewrap"])
def test_the_probe_is_confined(kind: str, tmp_path: Path, host_secrets: Path,
                               bridge_listener: tuple[str, int, list[int]]) -> None:
    host, port, accepted = bridge_listener
    bundle = spy_bundle(tmp_path, host_secrets, host, port)
    target = target_from_bundle(bundle, "app.handler", "python3.11", image=TEST_IMAGE)
    outcome: ProbeOutcome = run_probe(target, bundle, (), _selection(kind), module_timeout_s=MODULE_LIMIT_S)
    assert outcome.report is not None, f"{outcome.error}\n{outcome.stderr_tail}"
    modules = outcome.modules
    spy = json.loads(modules["spy"]["message"].split("SPY", 1)[1])
    print(f"{kind}: the spy saw {spy}; listener connections {len(accepted)}; hangs -> {modules['hangs']}; "
          f"hog -> {modules['hog']['error_type']}")
    # Lambda always sets the execution role's credentials: the probe gets placeholders, never the host's keys.
    assert spy == {"env_marker": False, "aws_keys": PLACEHOLDER_CREDENTIALS, "home_visible": False,
                   "credentials_visible": False,
                   "home_env": None, "task_writable": spy["task_writable"], "network": spy["network"]}
    assert spy["task_writable"] in ("OSError", "PermissionError")  # EROFS or EACCES: either way, not written
    assert spy["network"] != "connected"
    assert accepted == []
    assert not (bundle / "written-by-probe").exists()
    assert modules["hangs"]["error_type"] == "Timeout"
    assert f"did not finish in {MODULE_LIMIT_S}s" in modules["hangs"]["message"]
    assert modules["hog"]["error_type"] == "MemoryLimit"
    assert f"{MEMORY_LIMIT_MB} MB memory limit" in modules["hog"]["message"]
    assert modules["zz_after"]["ok"] is True  # the probe went on after both
    assert outcome.handlers[0]["ok"] is True


def test_the_gate_reports_the_stopped_modules_and_goes_on(tmp_path: Path, host_secrets: Path,
                                                          bridge_listener: tuple[str, int, list[int]]) -> None:
    require_docker()
    host, port, _ = bridge_listener
    bundle = spy_bundle(tmp_path, host_secrets, host, port)
    folder = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "gate", "--bundle", str(bundle), "--handler",
                           "app.handler", "--runtime", "python3.11", "--image", TEST_IMAGE, "-k", "DV2",
                           "--report-dir", str(folder)], capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "DV_CACHE_DIR": str(tmp_path / "cache"),
                               "DV_PROBE_MODULE_TIMEOUT_S": str(MODULE_LIMIT_S)})
    checks = {c["id"]: c for c in json.loads((folder / "report.json").read_text())["checks"]}
    imports = checks["DV220"]
    text = json.dumps(imports["findings"])
    print(f"gate exit {done.returncode}; DV220 {imports['status']} with {len(imports['findings'])} finding(s); "
          f"statuses {({k: v['status'] for k, v in checks.items()})}")
    # `hangs` and `hog` are first-party modules no handler reaches: each is reported (a warning, as for unreached
    # third-party code; target strictness makes it a failure) and the gate goes on to judge everything else.
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert imports["status"] == "pass"
    assert {f["severity"] for f in imports["findings"]} == {"warning"}
    assert "hangs" in text
    assert f"did not finish in {MODULE_LIMIT_S}s" in text
    assert "hog" in text
    assert f"{MEMORY_LIMIT_MB} MB memory limit" in text
    assert checks["DV211"]["status"] == "pass"  # the gate went on: the handler still resolves


@pytest.mark.parametrize("kind", ["docker", "bubblewrap"])
def test_the_listener_is_reachable_when_a_sandbox_shares_the_network(kind: str, tmp_path: Path,
                                                                     bridge_listener: tuple[str, int, list[int]]) \
        -> None:
    """The control of the network test: the same sandbox, asked for the host's network, does reach the listener,
    so the probe's failure to reach it is its confinement and not an unreachable address."""
    from deployverify.gate.probe.sandbox import Spec

    host, port, accepted = bridge_listener
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    connect = f"import socket; socket.create_connection(({host!r}, {port}), timeout=3).close()"
    done = _selection(kind).sandbox.run(Spec(argv=("{python}", "-c", connect), bundle=bundle, network="host"), 60)
    print(f"{kind} with the host's network: exit {done.code}, listener connections {len(accepted)}")
    assert done.code == 0, done.stderr.decode(errors="replace")
    assert _wait_for_count(accepted, 1)
