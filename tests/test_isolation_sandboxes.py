"""The sandboxes themselves: Lambda's layout, read-only bundle, no network, cleanup, long-lived processes."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployverify.gate.probe import SandboxUnavailable, Spec, select_sandbox
from deployverify.gate.probe.sandbox import Sandbox
from deployverify.target import target_from_bundle
from tests.support.env import TEST_IMAGE, require_bwrap, require_docker

# Prints what code in the sandbox sees, as JSON: paths, writability, network, user.
INSPECT = r"""
import json, os, socket, sys
def writable(path):
    try:
        with open(os.path.join(path, "dv-write-test"), "w") as f:
            f.write("x")
        return True
    except OSError:
        return False
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2).close()
    network = True
except OSError:
    network = False
print(json.dumps({"cwd": os.getcwd(), "task_files": sorted(os.listdir(".")), "task_writable": writable("."),
                  "tmp_writable": writable("/tmp"), "network": network, "uid": os.getuid(),
                  "env": {k: os.environ.get(k) for k in ("MARKER", "LAMBDA_TASK_ROOT")}}))
"""


def _bwrap() -> Sandbox:
    require_bwrap()
    from deployverify.gate.probe import bubblewrap

    return bubblewrap.connect("3.11")


def _docker() -> Sandbox:
    require_docker()
    from deployverify.gate.probe import docker_sandbox

    return docker_sandbox.connect(TEST_IMAGE, "3.11", pull=False)


def _plain() -> Sandbox:
    from deployverify.gate.probe import plain

    return plain.connect("3.11")


SANDBOXES = {"docker": _docker, "bubblewrap": _bwrap, "plain": _plain}


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "app.py").write_text("def handler(event, context):\n    return 1\n")
    return folder


@pytest.mark.parametrize(("kind", "task_root", "isolated"), [
    ("docker", "/var/task", True),
    ("bubblewrap", "/var/task", True),
    ("plain", None, False),
])
def test_sandbox_lays_out_lambda(kind: str, task_root: str | None, isolated: bool, bundle: Path) -> None:
    sandbox = SANDBOXES[kind]()
    spec = Spec(argv=("{python}", "-I", "-c", INSPECT), bundle=bundle,
                env={"MARKER": "from-spec", "LAMBDA_TASK_ROOT": "{task}"})
    done = sandbox.run(spec, timeout_s=60)
    assert done.code == 0, done.stderr.decode()
    seen = json.loads(done.stdout)
    assert seen["task_files"] == ["app.py"]
    assert seen["env"]["MARKER"] == "from-spec"
    assert seen["env"]["LAMBDA_TASK_ROOT"] == seen["cwd"]
    assert seen["tmp_writable"] is True
    if task_root:
        assert seen["cwd"] == task_root
    # The bundle is read-only and there is no network, as in Lambda; the plain process is the labelled exception.
    assert seen["task_writable"] is not isolated
    assert not (bundle / "dv-write-test").exists()
    if isolated:
        assert seen["network"] is False
        assert seen["uid"] == 993


def test_docker_container_is_removed_even_after_timeout(bundle: Path) -> None:
    import docker

    sandbox = _docker()
    spec = Spec(argv=("{python}", "-c", "import time; time.sleep(60)"), bundle=bundle, name="dv-test-timeout")
    done = sandbox.run(spec, timeout_s=3)
    assert done.timed_out is True
    assert done.code is None
    left = docker.from_env().containers.list(all=True, filters={"label": "deployverify=dv-test-timeout"})
    assert left == []


def test_host_python_sees_no_host_site_packages(bundle: Path) -> None:
    """bubblewrap shows only the interpreter's prefix: a package installed on the host is not importable."""
    sandbox = _bwrap()
    spec = Spec(argv=("{python}", "-I", "-c", "import sys; import yaml"), bundle=bundle)
    done = sandbox.run(spec, timeout_s=60)
    assert done.code != 0
    assert b"No module named 'yaml'" in done.stderr


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"runtime-api-ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kind", ["docker", "bubblewrap", "plain"])
def test_started_process_reaches_loopback_and_streams(kind: str, bundle: Path, loopback_server: int) -> None:
    """What the local stack needs: a long-lived process on the host's network, its output as lines, stdin."""
    sandbox = SANDBOXES[kind]()
    code = ("import os, sys, urllib.request\n"
            "print(urllib.request.urlopen('http://' + os.environ['AWS_LAMBDA_RUNTIME_API']).read().decode(), "
            "flush=True)\n"
            "print('echo:' + sys.stdin.readline().strip(), flush=True)\n")
    spec = Spec(argv=("{python}", "-I", "-c", code), bundle=bundle, network="host", stdin=True,
                env={"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{loopback_server}"}, name="dv-test-start")
    running = sandbox.start(spec)
    try:
        lines = running.lines()
        assert next(lines) == "runtime-api-ok"
        running.write(b"ping\n")
        assert next(lines) == "echo:ping"
        assert running.wait(30) == 0
    finally:
        running.stop()
    running.stop()  # idempotent


def test_selection_prefers_the_image(bundle: Path) -> None:
    require_docker()
    target = target_from_bundle(bundle, "app.handler", "python3.11", image=TEST_IMAGE)
    chosen = select_sandbox(target)
    assert (chosen.kind, chosen.fallback) == ("docker", False)
    assert TEST_IMAGE in chosen.reason


def test_selection_falls_back_and_says_why(bundle: Path) -> None:
    require_bwrap()
    image = "deployverify/no-such-image:0"
    target = target_from_bundle(bundle, "app.handler", "python3.11", image=image)
    chosen = select_sandbox(target)
    assert (chosen.kind, chosen.fallback) == ("bubblewrap", True)
    assert image in chosen.reason
    with pytest.raises(SandboxUnavailable, match="require-image"):
        select_sandbox(target, require_image=True)


def test_no_sandbox_without_a_matching_interpreter(bundle: Path) -> None:
    target = target_from_bundle(bundle, "app.handler", "python3.9", image="deployverify/no-such-image:0")
    with pytest.raises(SandboxUnavailable, match=r"no host CPython 3\.9"):
        select_sandbox(target)
