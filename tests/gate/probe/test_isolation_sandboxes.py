"""The sandboxes themselves: Lambda's layout, read-only bundle, no network, cleanup, long-lived processes."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployverify.gate.probe import SandboxUnavailable, Spec, select_sandbox
from deployverify.gate.probe.sandbox import Sandbox
from deployverify.gate.probe.selection import ImageRequired, how_to_get_a_sandbox
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
host, port = os.environ["DV_LISTENER"].rsplit(":", 1)
try:
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        network = conn.recv(16) == b"host-listener"
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


def host_address() -> str:
    """A non-loopback IPv4 address of this host: the docker bridge gateway when there is one (a container on the
    default bridge and a process in the host's network namespace both reach it), else the primary interface's.
    Unlike a public address, it answers on an offline machine, so "cannot connect" means the sandbox cut it off."""
    found = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, timeout=10,
                           check=False).stdout
    addresses = {line.split()[1]: line.split()[3].split("/")[0] for line in found.splitlines() if " inet " in line}
    chosen = addresses.get("docker0") or next((a for name, a in addresses.items() if name != "lo"), None)
    if chosen is None:
        pytest.fail(f"this host has no non-loopback IPv4 address to test network isolation against: {found!r}")
    return chosen


@pytest.fixture(scope="module")
def listener() -> Iterator[str]:
    """A TCP server on a host address that greets every connection; the sandboxes are told where it is."""
    server = socket.create_server((host_address(), 0))
    server.settimeout(0.5)
    stop = threading.Event()

    def greet() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"host-listener")

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    host, port = server.getsockname()[:2]
    try:
        yield f"{host}:{port}"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


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
def test_sandbox_lays_out_lambda(kind: str, task_root: str | None, isolated: bool, bundle: Path,
                                 listener: str) -> None:
    sandbox = SANDBOXES[kind]()
    spec = Spec(argv=("{python}", "-I", "-c", INSPECT), bundle=bundle,
                env={"MARKER": "from-spec", "LAMBDA_TASK_ROOT": "{task}", "DV_LISTENER": listener})
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
    assert seen["network"] is not isolated  # the plain process reaching the listener proves the address answers
    if isolated:
        assert seen["uid"] == 993


@pytest.mark.parametrize("kind", ["docker", "bubblewrap"])
def test_the_listener_is_reachable_when_a_sandbox_is_given_the_host_network(kind: str, bundle: Path,
                                                                           listener: str) -> None:
    """The control for the isolation assertion above: with the host's network the same sandbox reaches the
    listener, so `network is False` there can only mean the sandbox cut it off."""
    sandbox = SANDBOXES[kind]()
    spec = Spec(argv=("{python}", "-I", "-c", INSPECT), bundle=bundle, network="host",
                env={"LAMBDA_TASK_ROOT": "{task}", "DV_LISTENER": listener})
    done = sandbox.run(spec, timeout_s=60)
    assert done.code == 0, done.stderr.decode()
    assert json.loads(done.stdout)["network"] is True


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
    with pytest.raises(ImageRequired, match="require-image") as refused:
        select_sandbox(target, require_image=True)
    # Only the run that forbade the fallbacks is told it may allow them.
    assert how_to_get_a_sandbox(refused.value, "3.11").endswith("or drop --require-image")


def test_no_sandbox_without_a_matching_interpreter(bundle: Path) -> None:
    target = target_from_bundle(bundle, "app.handler", "python3.9", image="deployverify/no-such-image:0")
    with pytest.raises(SandboxUnavailable, match=r"no host CPython 3\.9") as nothing:
        select_sandbox(target)
    assert not isinstance(nothing.value, ImageRequired)
    # bubblewrap and a plain process are passed over for the same interpreter: the reason is given once.
    assert str(nothing.value).count("no host CPython 3.9") == 1, str(nothing.value)
    fix = how_to_get_a_sandbox(nothing.value, "3.9")
    assert "--require-image" not in fix
    assert fix.endswith("or install python3.9 on this host for a lower-fidelity fallback sandbox")
