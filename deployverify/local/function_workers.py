"""The functions' event-source processes: one detached `python -m deployverify.local` per SQS-triggered function,
restarted when its configuration changed or it died, and waited for until its first runtime has initialised."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from deployverify.core.errors import DeployVerifyError, EnvironmentMissing
from deployverify.lambda_image import docker
from deployverify.lambda_image.runtimes import lambda_environment, runtime_info
from deployverify.local import moto_server, procs
from deployverify.local.function_config import LocalFunctionConfig
from deployverify.local.function_runtime import sandbox_runtime_dir
from deployverify.local.stack_state import StackState, WorkerRecord, stack_dir, state_path, write_state
from deployverify.sam.template import FunctionSpec, StackSpec

WORKER_READY_TIMEOUT_S = 120.0
STACK_LABEL = "deployverify.stack"
FUNCTION_LABEL = "deployverify.function"

Say = Callable[[str], None]


def runtime_mode(image: str, require_image: bool, runtimes: Iterable[str] = ()) -> tuple[str, str]:
    """("docker", why) when the image can run here, else ("sandbox", why not) unless the image is required.

    An image that is here but lacks a function's interpreter (an --image for another Python) is a wrong setting,
    not a missing image: an error, never a silent run on the image's own Python."""
    problem = docker.local_image_problem(image)
    if problem is None:
        for runtime in sorted(set(runtimes)):
            lacks = docker.executable_problem(image, runtime_info(runtime).interpreter)
            if lacks:
                raise DeployVerifyError(f"image `{image}` cannot run the function's runtime {runtime}: {lacks}; use "
                                        f"the runtime's image, or drop --image (and DV_IMAGE) to get it by default",
                                        where="--image")
        return "docker", f"image {image}"
    if require_image:
        raise EnvironmentMissing(f"{problem}; --require-image forbids running the function outside the image")
    return "sandbox", problem


def local_concurrency(fn: FunctionSpec) -> int:
    """How many execution environments (containers) the function's worker may run at once: the reserved concurrency,
    Lambda's own cap, but no more than this machine takes, DV_LOCAL_CONCURRENCY (default: its CPU count)."""
    raw = os.environ.get("DV_LOCAL_CONCURRENCY", "").strip()
    try:
        cap = int(raw) if raw else (os.cpu_count() or 1)
    except ValueError:
        cap = 0
    if cap < 1:
        raise DeployVerifyError(f"DV_LOCAL_CONCURRENCY is {raw!r}; set it to a whole number of at least 1 (how many "
                                "containers may run the function at once)", where="DV_LOCAL_CONCURRENCY")
    # A reserved concurrency of 0 (Lambda then throttles every invocation) is not emulated: one environment runs.
    reserved = fn.reserved_concurrency
    return max(1, min(cap, reserved if reserved is not None else cap))


def _function_config(state: StackState, fn: FunctionSpec, spec: StackSpec, task_dir: Path, mode: str,
                     image: str) -> LocalFunctionConfig:
    assert fn.sqs is not None
    created = state.resources.functions[fn.logical_id]
    queue = state.resources.queues[fn.sqs.queue]
    env = lambda_environment(fn.runtime, fn.handler, function_name=fn.function_name, memory_mb=fn.memory_mb,
                             region=spec.region, user_env=created.environment)
    # Lambda hands the function its role's temporary keys; here, moto's dummy ones and moto's endpoint.
    env.update({"AWS_ACCESS_KEY_ID": moto_server.CREDENTIALS[0], "AWS_SECRET_ACCESS_KEY": moto_server.CREDENTIALS[1],
                "AWS_SESSION_TOKEN": "testing", "AWS_ENDPOINT_URL": state.endpoint})
    folder = stack_dir() / "workers" / fn.function_name
    folder.mkdir(parents=True, exist_ok=True)
    sandbox_runtime = ""
    if mode == "sandbox":
        sandbox_runtime = str(sandbox_runtime_dir(stack_dir() / "sandbox-runtime"))
    return LocalFunctionConfig(
        function_name=fn.function_name, function_arn=created.arn, runtime=fn.runtime, handler=fn.handler,
        timeout_s=fn.timeout_s, memory_mb=fn.memory_mb, environment=env, queue_url=queue.url,
        queue_arn=queue.arn, batch_size=fn.sqs.batch_size,
        report_batch_item_failures=fn.sqs.report_batch_item_failures, log_group=fn.log_group,
        task_dir=str(task_dir), io_dir=str(folder / "io"), mode=mode, image=image, region=spec.region,
        endpoint=state.endpoint, stack_id=state.stack_id, status_file=str(folder / "status.json"),
        invocations_file=str(stack_dir() / "invocations.jsonl"), log_file=str(folder / "function.log"),
        sandbox_runtime_dir=sandbox_runtime, retry_delay_s=int(os.environ.get("DV_LOCAL_RETRY_DELAY_S", "1")),
        concurrency=local_concurrency(fn),
        labels={STACK_LABEL: state.stack_id, FUNCTION_LABEL: fn.function_name})


def ensure_workers(state: StackState, spec: StackSpec, task_dir: Path, mode: str, image: str, *,
                   restart: bool, say: Say) -> StackState:
    """Converge the running event-source processes on the template; the state after each change is saved, so a
    crash halfway leaves `down` a process to stop."""
    workers = dict(state.workers)
    wanted = {fn.function_name: fn for fn in spec.functions if fn.sqs is not None and fn.sqs.enabled}
    for name in [n for n in workers if n not in wanted]:
        procs.stop(workers.pop(name).process)
    state = replace(state, workers=dict(workers))
    for name, fn in wanted.items():
        config = _function_config(state, fn, spec, task_dir, mode, image)
        current = workers.get(name)
        ref = current.process if current else None
        if not restart and procs.alive(ref) and current is not None and current.config == config:
            continue
        procs.stop(ref)
        docker.remove_containers({STACK_LABEL: state.stack_id, FUNCTION_LABEL: name})
        status_file = Path(config.status_file)
        status_file.unlink(missing_ok=True)
        workers[name] = WorkerRecord(config)
        state = replace(state, workers=dict(workers))
        write_state(state)
        say(f"local: starting the worker for {name} ({mode}; the runtime's first init takes a few seconds)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=moto_server.CREDENTIALS[0], AWS_SECRET_ACCESS_KEY=moto_server.CREDENTIALS[1],
                   AWS_REGION=spec.region, AWS_DEFAULT_REGION=spec.region, AWS_ENDPOINT_URL=state.endpoint)
        log = status_file.parent / "worker.log"
        ref = procs.spawn([sys.executable, "-m", "deployverify.local", str(state_path()), name], log, env=env)
        workers[name] = WorkerRecord(config, ref)
        state = replace(state, workers=dict(workers))
        write_state(state)
        status = _wait_worker(ref, status_file, log)
        if status.get("status") == "ready":
            say(f"local: {name} is ready (init {status.get('init_ms')} ms, {status.get('runtime')})")
        else:
            say(f"local: warning: {name} failed to initialise: {status.get('error')}; messages will fail and "
                "reach the DLQ, as in AWS")
    return state


def _wait_worker(ref: procs.ProcessRef, status_file: Path, log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            status: dict[str, Any] = json.loads(status_file.read_text())
            if status.get("status") != "starting":
                return status
        except (OSError, ValueError):
            pass
        if not procs.alive(ref):
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise EnvironmentMissing(f"the local worker exited while starting: {tail.strip() or 'no output'}",
                                     where=str(log))
        time.sleep(0.1)
    raise EnvironmentMissing(f"the local worker did not report ready within {WORKER_READY_TIMEOUT_S:.0f}s",
                             where=str(log))


def worker_status(worker: WorkerRecord) -> dict[str, Any]:
    """What `local status` shows of one worker: alive or not, and the last status it wrote."""
    alive = procs.alive(worker.process)
    try:
        report = json.loads(Path(worker.config.status_file).read_text())
    except (OSError, ValueError):
        report = {}
    return {"alive": alive, **{k: report.get(k) for k in (
        "status", "mode", "runtime", "init_ms", "error", "invocations", "last_status", "last_error",
        "concurrency", "environments")}}
