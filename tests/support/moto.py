"""A real moto server on a free loopback port: the AWS endpoint every test talks to with plain boto3."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto on 127.0.0.1 (a port the OS picks), yield its endpoint URL, stop it afterwards."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns every failure's output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
