"""A fault-injecting proxy on loopback, in front of the moto endpoint (HTTP) or Postgres (plain TCP).

For a configurable fraction of requests (HTTP) or connections (TCP) it answers with a fault instead of the
upstream's answer: a throttling error (HTTP 400 ThrottlingException, or 503 SlowDown), a 500, a slow answer, or a
connection reset. Which fault, and whether a request gets one, comes from a seeded random generator, so a run is
repeatable. Everything else is relayed unchanged.

HTTP: one request per client connection (the proxy answers `Connection: close`), which keeps the relay a simple
read-request, forward, copy-response-until-EOF; `Expect: 100-continue` is answered by the proxy itself.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

HTTP_FAULTS = ("throttle", "slowdown", "server-error", "slow", "reset")
TCP_FAULTS = ("slow", "reset")
SLOW_S = 0.6


@dataclass
class FaultProxy:
    """`with FaultProxy(upstream_port, fraction=0.1) as proxy:` then point clients at `proxy.port`."""

    upstream_port: int
    fraction: float = 0.0
    http: bool = True
    faults: tuple[str, ...] = ()
    seed: int = 14
    down: bool = False  # every connection reset at once: the endpoint is unreachable
    injected: Counter[str] = field(default_factory=Counter)
    relayed: int = 0

    def __post_init__(self) -> None:
        self.faults = self.faults or (HTTP_FAULTS if self.http else TCP_FAULTS)
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.close()
        self._thread.join(5)

    def _pick(self) -> str | None:
        with self._lock:
            if self.down:
                return "reset"
            if self._random.random() >= self.fraction:
                return None
            return self._random.choice(self.faults)

    def _serve(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                continue
            handler = self._http if self.http else self._tcp
            threading.Thread(target=self._guarded, args=(handler, client), daemon=True).start()

    def _guarded(self, handler: object, client: socket.socket) -> None:
        try:
            handler(client)  # type: ignore[operator]
        except OSError:
            pass
        finally:
            client.close()

    def _count(self, fault: str | None) -> None:
        with self._lock:
            if fault is None or fault == "slow":
                self.relayed += 1
            if fault is not None:
                self.injected[fault] += 1

    # -- plain TCP (Postgres): a fault per connection, at its start ----------------------------------------------------

    def _tcp(self, client: socket.socket) -> None:
        fault = self._pick()
        self._count(fault)
        if fault == "reset":
            _reset(client)
            return
        if fault == "slow":
            time.sleep(SLOW_S)
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
        try:
            pump = threading.Thread(target=_copy, args=(upstream, client), daemon=True)
            pump.start()
            _copy(client, upstream)
            pump.join(30)
        finally:
            upstream.close()

    # -- HTTP (moto): a fault per request --------------------------------------------------------------------------

    def _http(self, client: socket.socket) -> None:
        client.settimeout(30)
        head, body = _read_request(client)
        if head is None:
            return
        fault = self._pick()
        self._count(fault)
        if fault == "reset":
            _reset(client)
            return
        if fault in ("throttle", "slowdown", "server-error"):
            client.sendall(_error_response(fault, head))
            return
        if fault == "slow":
            time.sleep(SLOW_S)
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
        try:
            upstream.sendall(_forwarded_head(head) + body)
            response = _read_all(upstream)
        finally:
            upstream.close()
        client.sendall(_closing(response))


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN: what a dropped connection looks like to the client."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _copy(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _read_request(client: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    headers = _headers(head)
    if headers.get("expect", "").lower() == "100-continue":
        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = client.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def _headers(head: bytes) -> dict[str, str]:
    found = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return found


def _forwarded_head(head: bytes) -> bytes:
    lines = [line for line in head.decode("latin-1").split("\r\n")
             if not line.lower().startswith(("connection:", "expect:", "keep-alive:"))]
    return ("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1")


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _closing(response: bytes) -> bytes:
    """The upstream's response, saying `Connection: close` (the proxy closes after it)."""
    head, sep, body = response.partition(b"\r\n\r\n")
    lines = [line for line in head.decode("latin-1").split("\r\n") if not line.lower().startswith("connection:")]
    return ("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1") + body if sep else response


def _error_response(fault: str, head: bytes) -> bytes:
    """An AWS-shaped error: JSON for the JSON protocols (X-Amz-Target, rest-json paths), XML otherwise."""
    status, reason, code = {"throttle": (400, "Bad Request", "ThrottlingException"),
                            "slowdown": (503, "Service Unavailable", "SlowDown"),
                            "server-error": (500, "Internal Server Error", "InternalError")}[fault]
    headers = _headers(head)
    path = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else "/"
    message = f"injected by the fault proxy: {code}"
    if "x-amz-target" in headers or "json" in headers.get("content-type", "") or path.startswith("/20"):
        body = json.dumps({"__type": code, "message": message}).encode()
        kind = "application/x-amz-json-1.0"
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
                "<RequestId>fault-proxy</RequestId></ErrorResponse>").encode()
        kind = "text/xml"
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nx-amzn-ErrorType: {code}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
