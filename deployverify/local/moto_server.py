"""The emulated AWS endpoint: `moto.server` in its own process on 127.0.0.1:<port>.

One process serves every service the stack uses (S3, SQS, Secrets Manager, CloudWatch Logs and metrics, Lambda, IAM)
on one port, which is what `AWS_ENDPOINT_URL` points at. It runs detached, so `deployverify local up` can return
and `local status` / `local down` in another process find it through the stack's state file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from deployverify.core.errors import EnvironmentMissing
from deployverify.core.waits import wait_for
from deployverify.local import procs

HOST = "127.0.0.1"
# moto accepts any keys; these dummy ones keep a real credential from ever being sent, even to loopback.
CREDENTIALS = ("testing", "testing")
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class MotoServer:
    process: procs.ProcessRef
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def url(port: int) -> str:
    return f"http://{HOST}:{port}"


def responding(port: int) -> bool:
    try:
        return requests.get(f"{url(port)}/moto-api/data.json", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def start(port: int, log: Path) -> MotoServer:
    if procs.port_open(port):
        what = "another moto server" if responding(port) else "another program"
        raise EnvironmentMissing(f"port {port} is taken by {what}; stop it or set local.moto_port in the target file",
                                 where=f"127.0.0.1:{port}")
    try:
        import moto.server  # noqa: F401 - only to fail early with a clear message
    except ImportError:
        raise EnvironmentMissing("moto is not installed; pip install 'deployverify[local]'") from None
    ref = procs.spawn([sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)], log)
    result = wait_for(f"moto server on {url(port)}", START_TIMEOUT_S,
                      lambda: (responding(port) or not procs.alive(ref), procs.alive(ref)), announce=False)
    if not (result.done and result.last):
        procs.stop(ref)
        tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
        raise EnvironmentMissing(f"moto server did not start on port {port}: {tail.strip() or 'no output'}",
                                 where=str(log))
    return MotoServer(ref, port)


def stop(server: MotoServer | None) -> bool:
    return True if server is None else procs.stop(server.process)
