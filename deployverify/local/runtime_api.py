"""The Lambda Runtime API (2018-06-01) on loopback, so the real runtime interface client runs the real handler.

The function's runtime (awslambdaric, started by the image's /lambda-entrypoint.sh or the sandbox) long-polls
`GET /runtime/invocation/next`, runs the handler and posts `/response` or `/error`; an import failure is posted to
`/runtime/init/error` before the runtime exits. Those are the calls Lambda's own service answers, so init errors
(`Runtime.ImportModuleError`, `Runtime.HandlerNotFound`, ...) and handler errors reach us exactly as in AWS.

The server knows nothing of SQS or logs: it hands invocations out and reports what happened through `Listener`
callbacks, which run in the request's thread before the runtime gets its answer. That ordering is what lets the
platform write START before the handler's first line and END after its last.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

PREFIX = "/2018-06-01/runtime"
_POLL_S = 0.2


@dataclass
class RuntimeApiInvocation:
    """One invoke as the Runtime API holds it: queued, handed to the runtime, answered. (pipeline/logs.Invocation is
    another thing: an invocation read back from CloudWatch Logs.)"""

    payload: bytes
    timeout_s: float
    function_arn: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    trace_id: str = field(default_factory=lambda: f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0")
    handed_out: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    started: float | None = None  # perf_counter when the runtime took it
    finished: float | None = None
    deadline_ms: int = 0
    response: bytes | None = None
    error: dict[str, Any] | None = None
    status: str = "pending"  # pending, running, success, error, timeout
    platform_error: str | None = None  # Runtime.ExitError, Runtime.ImportModuleError, ... (not a handler exception)

    @property
    def duration_ms(self) -> float:
        if self.started is None:
            return 0.0
        return ((self.finished or time.perf_counter()) - self.started) * 1000


class Listener(Protocol):
    def invocation_started(self, invocation: RuntimeApiInvocation) -> None: ...

    def invocation_finished(self, invocation: RuntimeApiInvocation) -> None: ...

    def init_error(self, error: dict[str, Any], error_type: str) -> None: ...


class RuntimeApi:
    """One execution environment's Runtime API (each has its own endpoint). Invocations are queued by `submit` and
    taken one at a time by the environment's runtime."""

    def __init__(self, listener: Listener, host: str = "127.0.0.1", port: int = 0) -> None:
        self.listener = listener
        self._queue: queue.Queue[RuntimeApiInvocation] = queue.Queue()
        self._running: dict[str, RuntimeApiInvocation] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.polls = 0  # how many times the runtime asked for work: the first one means init finished
        self.first_poll = threading.Event()
        self.first_poll_at: float | None = None  # perf_counter of that first request
        self._runtime_epoch = 0  # which runtime's polls may take work: only the latest one's
        api = self

        class Handler(_Handler):
            owner = api

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> RuntimeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        """A new runtime (container) is starting: forget the old one's polls."""
        with self._lock:
            self._runtime_epoch += 1
        self.polls = 0
        self.first_poll_at = None
        self.first_poll.clear()

    def submit(self, invocation: RuntimeApiInvocation) -> RuntimeApiInvocation:
        self._queue.put(invocation)
        return invocation

    def pending(self) -> list[RuntimeApiInvocation]:
        """Queued invocations nobody took yet (a runtime that died during init leaves them here)."""
        taken = []
        while True:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                return taken

    def running(self) -> list[RuntimeApiInvocation]:
        with self._lock:
            return list(self._running.values())

    def complete(self, invocation: RuntimeApiInvocation, status: str, *, error: dict[str, Any] | None = None,
                 platform_error: str | None = None) -> bool:
        """Finish an invocation once (the first caller wins: response, error, timeout or a dead runtime)."""
        with self._lock:
            if invocation.status not in ("pending", "running"):
                return False
            self._running.pop(invocation.request_id, None)
            invocation.finished = time.perf_counter()
            invocation.status = status
            invocation.error = error
            invocation.platform_error = platform_error
        self.listener.invocation_finished(invocation)
        invocation.done.set()
        return True

    # --- called by the request handler ---

    def _next(self) -> RuntimeApiInvocation | None:
        epoch = self._runtime_epoch
        self.polls += 1
        if self.first_poll_at is None:
            self.first_poll_at = time.perf_counter()
            self.first_poll.set()
        # A runtime killed while it waited here leaves this request behind; it must not take the next runtime's work.
        while not self._stopping.is_set() and epoch == self._runtime_epoch:
            try:
                invocation = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            with self._lock:
                if epoch != self._runtime_epoch:
                    self._queue.put(invocation)
                    return None
                invocation.started = time.perf_counter()
                invocation.deadline_ms = int((time.time() + invocation.timeout_s) * 1000)
                invocation.status = "running"
                self._running[invocation.request_id] = invocation
            self.listener.invocation_started(invocation)
            invocation.handed_out.set()
            return invocation
        return None

    def _find(self, request_id: str) -> RuntimeApiInvocation | None:
        with self._lock:
            return self._running.get(request_id)


class _Handler(BaseHTTPRequestHandler):
    owner: RuntimeApi
    protocol_version = "HTTP/1.1"  # the runtime client keeps one connection alive across invocations

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        # A runtime killed at a timeout, or a stack that is stopping, leaves nobody to answer: not an error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(code)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def _status(self, code: int, error_type: str | None = None, message: str = "") -> None:
        body = {"status": "OK"} if error_type is None else {"errorType": error_type, "errorMessage": message}
        self._send(code, json.dumps(body).encode())

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self._status(404, "InvalidRequest", f"no such resource: {self.path}")
            return
        invocation = self.owner._next()
        if invocation is None:
            self._status(503, "ServiceUnavailable", "the local stack is stopping")
            return
        self._send(200, invocation.payload, {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id,
        })

    def do_POST(self) -> None:
        body = self._body()
        path = self.path
        if path == f"{PREFIX}/init/error":
            error = _json(body)
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type") or str(error.get("errorType") or
                                                                                       "Runtime.Unknown")
            self.owner.listener.init_error(error, error_type)
            self._status(202)
            return
        parts = path.removeprefix(f"{PREFIX}/invocation/").split("/")
        if not path.startswith(f"{PREFIX}/invocation/") or len(parts) != 2 or parts[1] not in ("response", "error"):
            self._status(404, "InvalidRequest", f"no such resource: {path}")
            return
        invocation = self.owner._find(parts[0])
        if invocation is None:
            self._status(400, "InvalidRequestID", f"unknown or finished request id {parts[0]}")
            return
        if parts[1] == "response":
            invocation.response = body
            self.owner.complete(invocation, "success")
        else:
            error = _json(body)
            error.setdefault("errorType", self.headers.get("Lambda-Runtime-Function-Error-Type") or "Unhandled")
            self.owner.complete(invocation, "error", error=error)
        self._status(202)


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {"errorMessage": body.decode(errors="replace")[:2000], "errorType": "Runtime.InvalidError"}
    return value if isinstance(value, dict) else {"errorMessage": str(value)}
