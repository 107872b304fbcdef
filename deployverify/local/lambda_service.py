"""Lambda's service around the function: the pool of execution environments and the invoke path into each.

An execution environment is one long-lived runtime (a Lambda-image container, `function_runtime.py`) with its own
Runtime API endpoint (`runtime_api.py`) and its own log stream. It runs one invocation at a time, is reused warm,
and a new one is started (a cold start) only when every existing one is busy, up to the function's concurrency;
a dead or timed-out runtime is started again in its environment on the next invocation. Around each invocation it
writes Lambda's log lines to `/aws/lambda/<function>` in the emulated CloudWatch Logs (`lambda_events.py`):
INIT_START, the function's own output, START / END / REPORT (Duration, Billed Duration, Memory Size, Max Memory
Used, Init Duration on a cold start), `Task timed out after ...`, INIT_REPORT for a failed init.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deployverify.aws.session import client
from deployverify.local import cwlogs, lambda_events, logpipe
from deployverify.local.function_config import LocalFunctionConfig
from deployverify.local.function_runtime import DockerRuntime, Runtime, SandboxRuntime
from deployverify.local.moto_server import CREDENTIALS
from deployverify.local.runtime_api import RuntimeApi, RuntimeApiInvocation

INIT_LIMIT_S = 10.0  # Lambda's limit on an on-demand init phase
LOG_FLUSH_EVERY_S = 1.0


def aws_client(service: str, config: LocalFunctionConfig) -> Any:
    """A client of the emulated AWS the function's stack runs in."""
    return client(service, region_name=config.region, endpoint_url=config.endpoint, credentials=CREDENTIALS)


class ExecutionEnvironment:
    """What Lambda's service does around one execution environment's runtime: start it, log around each invocation,
    notice its death. The environment runs one invocation at a time; `EnvironmentPool` runs several of them."""

    def __init__(self, config: LocalFunctionConfig, index: int = 0) -> None:
        self.config = config
        self.index = index
        self.logs = aws_client("logs", config)
        self.lock = threading.RLock()
        self.api = RuntimeApi(self).start()
        self.io_dir = Path(config.io_dir) / f"env-{index}"  # its own log pipe: its output goes to its own stream
        self.pipe = logpipe.OutputPipe(self.io_dir)
        self.pump = logpipe.Pump(self.pipe, self._emit_lines, self.lock).start()
        self.stream: cwlogs.LogStream | None = None
        self.runtime: Runtime | None = None
        self.runtime_started = 0.0
        self.runtime_exited = threading.Event()
        self.exit_code: int | None = None
        self.init_failure: tuple[str, dict[str, Any]] | None = None
        self.init_ms: float | None = None
        self._init_reported = False
        self._generation = 0
        self._stop_flusher = threading.Event()
        threading.Thread(target=self._flush_loop, name="log-flush", daemon=True).start()

    # --- runtime lifecycle ---

    def _runtime_variables(self) -> dict[str, str]:
        env = dict(self.config.environment)
        env["AWS_LAMBDA_RUNTIME_API"] = self.api.address
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = self.stream.name if self.stream else ""
        return env

    def start_runtime(self) -> None:
        with self.lock:
            self._generation += 1
            generation = self._generation
            self.stream = cwlogs.LogStream(self.logs, self.config.log_group, Path(self.config.log_file))
            self.api.reset()
            self.runtime_exited.clear()
            self.exit_code = None
            self.init_failure = None
            self.init_ms = None
            self._init_reported = False
            self.stream.add(lambda_events.init_start_line(self.config.runtime, self.config.region))
            runtime: Runtime
            if self.config.mode == "docker":
                runtime = DockerRuntime(
                    image=self.config.image, handler=self.config.handler, env=self._runtime_variables(),
                    task_dir=Path(self.config.task_dir), io_dir=self.io_dir, memory_mb=self.config.memory_mb,
                    name=f"dv-local-{self.config.stack_id}-{self.config.function_name}-{self.index}-{generation}"[:120],
                    labels=self.config.labels)
            else:
                runtime = SandboxRuntime(handler=self.config.handler, env=self._runtime_variables(),
                                         task_dir=Path(self.config.task_dir), io_dir=self.io_dir,
                                         runtime_dir=Path(self.config.sandbox_runtime_dir))
            self.runtime_started = time.perf_counter()
            runtime.start()
            self.runtime = runtime
        threading.Thread(target=self._watch, args=(runtime, generation), name="runtime-watch", daemon=True).start()

    def ensure_runtime(self) -> None:
        if self.runtime is None or self.runtime_exited.is_set():
            if self.runtime is not None:
                self.runtime.kill()
            self.start_runtime()

    def wait_ready(self, timeout_s: float) -> str:
        """After a (re)start: 'ready' once the runtime asks for work, else 'init_error' or 'timeout'."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.api.first_poll.wait(0.05):
                return "ready"
            if self.runtime_exited.is_set():
                return "init_error"
        return "timeout"

    def _watch(self, runtime: Runtime, generation: int) -> None:
        code = runtime.wait()
        with self.lock:
            if generation != self._generation:
                return
            self.pump.drain_now(include_partial=True)
            self.exit_code = code
            self.runtime_exited.set()
            for invocation in self.api.running():
                message = f"RequestId: {invocation.request_id} Error: Runtime exited with error: exit status {code}"
                self.api.complete(invocation, "error", platform_error="Runtime.ExitError",
                                  error={"errorType": "Runtime.ExitError", "errorMessage": message})
            self._fail_pending()
        runtime.kill()  # removes the stopped container

    def _fail_pending(self) -> None:
        for invocation in self.api.pending():
            if self.init_failure is not None:
                error_type, error = self.init_failure
            else:
                error_type, error = "Runtime.ExitError", {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"Runtime exited with error: exit status {self.exit_code}"}
            self.api.complete(invocation, "error", platform_error=error_type, error=error)

    def shutdown(self) -> None:
        with self.lock:
            self._generation += 1
            runtime, self.runtime = self.runtime, None
        if runtime is not None:
            runtime.kill()
        self.pump.stop()
        self.api.stop()
        self._stop_flusher.set()
        self.flush()
        self.pipe.close()

    # --- Listener: called from the Runtime API's request threads ---

    def invocation_started(self, invocation: RuntimeApiInvocation) -> None:
        with self.lock:
            self.pump.drain_now()
            if self.init_ms is None and self.api.first_poll_at is not None:
                self.init_ms = (self.api.first_poll_at - self.runtime_started) * 1000
            self._add(lambda_events.start_line(invocation.request_id))

    def invocation_finished(self, invocation: RuntimeApiInvocation) -> None:
        with self.lock:
            self.pump.drain_now()
            if invocation.started is None:  # never reached the handler (init failed): Lambda still logs the request
                invocation.started = invocation.finished
                self._add(lambda_events.start_line(invocation.request_id))
            if invocation.status == "timeout":
                self._add(lambda_events.timed_out_line(cwlogs.iso_ms(time.time()), invocation.request_id,
                                                       self.config.timeout_s))
            elif invocation.platform_error and invocation.error:
                self._add(f"{invocation.error.get('errorMessage', '')}\n{invocation.platform_error}")
            self._add(lambda_events.end_line(invocation.request_id))
            init_ms = None
            if not self._init_reported and self.init_ms is not None:
                init_ms, self._init_reported = self.init_ms, True
            used = self.runtime.max_memory_mb() if self.runtime else None
            self._add(lambda_events.report_line(invocation, self.config.memory_mb, used, init_ms))
        self.flush()

    def init_error(self, error: dict[str, Any], error_type: str) -> None:
        with self.lock:
            self.pump.drain_now()
            self.init_failure = (error_type, error)
            init_ms = (time.perf_counter() - self.runtime_started) * 1000
            self._add(lambda_events.init_report_line(init_ms, error_type))
            self._fail_pending()
        self.flush()

    # --- logs ---

    def _emit_lines(self, lines: list[str]) -> None:
        for line in lines:
            if line.strip():
                self._add(line)

    def _add(self, message: str) -> None:
        if self.stream is not None:
            self.stream.add(message)

    def flush(self) -> None:
        stream = self.stream
        if stream is None:
            return
        try:
            stream.flush()
        except Exception as exc:  # a hiccup of the emulated endpoint must not kill the worker
            print(f"worker: could not write logs: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def _flush_loop(self) -> None:
        while not self._stop_flusher.wait(LOG_FLUSH_EVERY_S):
            self.flush()

    # --- invoke ---

    def invoke(self, payload: bytes) -> RuntimeApiInvocation:
        self.ensure_runtime()
        invocation = self.api.submit(RuntimeApiInvocation(payload=payload, timeout_s=self.config.timeout_s,
                                                function_arn=self.config.function_arn))
        submitted = time.monotonic()
        while not invocation.done.wait(0.05):
            if invocation.handed_out.is_set():
                assert invocation.started is not None
                if time.perf_counter() - invocation.started > self.config.timeout_s:
                    self._time_out(invocation)
            elif time.monotonic() - submitted > max(INIT_LIMIT_S, self.config.timeout_s) + INIT_LIMIT_S:
                self._time_out(invocation)
        return invocation

    def _time_out(self, invocation: RuntimeApiInvocation) -> None:
        with self.lock:
            runtime, self.runtime = self.runtime, None
            self._generation += 1  # the dying runtime's watcher must not touch the next one
            self.runtime_exited.set()
        self.api.complete(invocation, "timeout", platform_error="Sandbox.Timedout")
        if runtime is not None:
            runtime.kill()


class EnvironmentPool:
    """The function's execution environments, at most `limit`: a free one is reused warm, and a new one starts (a
    cold start) only when every existing one is busy, as Lambda scales."""

    def __init__(self, config: LocalFunctionConfig, limit: int) -> None:
        self.config = config
        self.limit = limit
        self.all: list[ExecutionEnvironment] = []
        self._idle: list[ExecutionEnvironment] = []
        self._lock = threading.Lock()

    def first(self) -> ExecutionEnvironment:
        """The environment `local up` starts and waits for, so that a failing init shows before any message."""
        with self._lock:
            if not self.all:
                self._idle.append(self._new())
            return self.all[0]

    @contextmanager
    def take(self) -> Iterator[ExecutionEnvironment]:
        with self._lock:
            if self._idle:
                environment = self._idle.pop()  # the most recently used: the warmest
            elif len(self.all) < self.limit:
                environment = self._new()
            else:  # the poller holds no more batches than there are environments
                raise RuntimeError(f"all {self.limit} execution environments are busy")
        try:
            yield environment
        finally:
            with self._lock:
                self._idle.append(environment)

    def _new(self) -> ExecutionEnvironment:
        environment = ExecutionEnvironment(self.config, index=len(self.all))
        self.all.append(environment)
        return environment

    def shutdown(self) -> None:
        with self._lock:
            environments = list(self.all)
        for environment in environments:
            environment.shutdown()
