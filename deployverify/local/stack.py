"""The local stack: `up(target)`, `down()`, `status()` and the environment a smoke run needs.

Everything lives under `<cache dir>/local/` (`deployverify.core.run_ids.cache_dir()`): `state.json` (what runs, with
pids and ports, mode 0600 because it holds the database password), the extracted task root, the worker's log pipe,
logs and invocation records. `up` is idempotent (what runs and matches is kept, what died or changed is restarted)
and saves the state after every component, so `down` removes everything (worker processes, containers found by
label, the moto server, the embedded Postgres and its data) even after `up` crashed halfway.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from deployverify.aws.session import client
from deployverify.core.errors import DeployVerifyError, EnvironmentMissing
from deployverify.core.run_ids import cache_dir, now_iso
from deployverify.core.zipper import code_sha256, zip_bundle
from deployverify.lambda_image.runtimes import lambda_environment
from deployverify.local import container, moto_server, postgres, procs
from deployverify.local.resources import Creator
from deployverify.local.worker import WorkerConfig
from deployverify.sam.template import FunctionSpec, StackSpec, load_stack_spec
from deployverify.target.model import Target

STATE_VERSION = 1
DEFAULT_REGION = "us-east-1"
WORKER_READY_TIMEOUT_S = 120.0
STACK_LABEL = "deployverify.stack"

Say = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stack_dir() -> Path:
    return cache_dir() / "local"


def state_path() -> Path:
    return stack_dir() / "state.json"


def stack_id() -> str:
    """Names this stack's containers and temp folders: one stack per cache folder."""
    return hashlib.sha256(str(stack_dir().resolve()).encode()).hexdigest()[:10]


def read_state() -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return None
    return state if state.get("version") == STATE_VERSION else None


def _write_state(state: dict[str, Any]) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=2)
    partial.replace(path)


@contextmanager
def _locked() -> Any:
    stack_dir().mkdir(parents=True, exist_ok=True)
    with FileLock(str(stack_dir() / ".lock"), timeout=600):
        yield


def _region(target: Target) -> str:
    return target.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def environment(state: dict[str, Any] | None = None) -> dict[str, str]:
    """What a process needs to talk to this stack: endpoint, dummy credentials, region, and the resources' names."""
    state = state or read_state()
    if not state:
        raise DeployVerifyError("no local stack is up; run `deployverify local up -c FILE` first")
    env = {
        "AWS_ENDPOINT_URL": state["endpoint"],
        "AWS_ACCESS_KEY_ID": moto_server.CREDENTIALS[0],
        "AWS_SECRET_ACCESS_KEY": moto_server.CREDENTIALS[1],
        "AWS_REGION": state["region"],
        "AWS_DEFAULT_REGION": state["region"],
        "DV_LOCAL_STATE": str(state_path()),
    }
    resources = state.get("resources") or {}
    names = _primary_names(resources)
    env.update({k: v for k, v in names.items() if v})
    return env


def _primary_names(resources: dict[str, Any]) -> dict[str, str]:
    queues = resources.get("queues") or {}
    triggers = {fn.get("trigger_queue") for fn in (resources.get("functions") or {}).values()}
    trigger = next((q for logical, q in queues.items() if logical in triggers), None)
    dlq = next((q for logical, q in queues.items() if logical == (trigger or {}).get("dlq")), None)
    if dlq is None:
        dlq = next((q for q in queues.values() if q is not trigger), None)
    function: dict[str, Any] = next(iter((resources.get("functions") or {}).values()), {})
    bucket: str = next(iter((resources.get("buckets") or {}).values()), "")
    secret: dict[str, Any] = next(iter((resources.get("secrets") or {}).values()), {})
    return {"DV_LOCAL_BUCKET": bucket, "DV_LOCAL_QUEUE_URL": (trigger or {}).get("url", ""),
            "DV_LOCAL_DLQ_URL": (dlq or {}).get("url", ""), "DV_LOCAL_SECRET_ID": secret.get("name", ""),
            "DV_LOCAL_FUNCTION_NAME": function.get("name", ""), "DV_LOCAL_LOG_GROUP": function.get("log_group", "")}


def apply_environment(state: dict[str, Any] | None = None) -> dict[str, str]:
    """Point this process at the local stack (what `deployverify smoke --local` and `demo` do)."""
    env = environment(state)
    for name in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_") or k in ("AWS_PROFILE",
                                                                                       "AWS_SESSION_TOKEN")]:
        del os.environ[name]  # a per-service endpoint or a profile would send some calls elsewhere
    os.environ.update(env)
    from deployverify.aws.session import clear_cache

    clear_cache()
    return env


# --- up -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpResult:
    state: dict[str, Any]
    env: dict[str, str]
    warnings: tuple[str, ...]


def up(target: Target, *, image: str | None = None, require_image: bool = False, say: Say = _stderr) -> UpResult:
    if target.local.template is None:
        raise DeployVerifyError("the local stack needs the SAM template: set local.template in the target file",
                                where=str(target.source_path or "target"))
    with _locked():
        state = read_state() or {}
        if state and state.get("target") != str(target.source_path):
            raise DeployVerifyError(f"a local stack for {state.get('target')} is up; run `deployverify local down` "
                                    "first", where=str(state_path()))
        state.update(version=STATE_VERSION, target=str(target.source_path), target_name=target.name,
                     stack_id=stack_id(), updated_at=now_iso())
        state.setdefault("created_at", now_iso())
        region = _region(target)
        state["region"] = region
        spec, resolver = load_stack_spec(target.local.template, region=region, stack_name=f"{target.name}-local")

        say("local: building the bundle")
        from deployverify.gate.build.build import ensure_built

        built = ensure_built(target, cache_dir())
        zip_bytes = zip_bundle(built.path)
        sha = code_sha256(zip_bytes)

        moto_restarted = _ensure_moto(state, target.local.moto_port, say)
        _write_state(state)
        db = _ensure_database(state, target, spec, say)
        _write_state(state)

        say(f"local: creating resources from {target.local.template.name} in moto")
        endpoint = state["endpoint"]

        def make(service: str) -> Any:
            return client(service, region_name=region, endpoint_url=endpoint, credentials=moto_server.CREDENTIALS)

        database_secret = None
        if target.database is not None:
            try:
                database_secret = target.secret(target.database.secret).id
            except KeyError:
                database_secret = None
        created = Creator(spec, resolver, make).all(zip_bytes=zip_bytes, db=db, database_secret=database_secret,
                                                    secret_overrides=dict(target.local.secret_values))
        resources = created.to_dict()
        for fn in spec.functions:
            if fn.sqs is not None:
                resources["functions"][fn.logical_id]["trigger_queue"] = fn.sqs.queue
        for queue in spec.queues:
            if queue.dead_letter_queue:
                resources["queues"][queue.logical_id]["dlq"] = queue.dead_letter_queue
                resources["queues"][queue.logical_id]["max_receive_count"] = str(queue.max_receive_count)
        state["resources"] = resources
        state["ignored"] = list(spec.ignored)
        _write_state(state)

        task_dir = _task_dir(zip_bytes, sha)
        mode, why = _runtime_mode(image or target.container_image, require_image)
        if mode == "sandbox":
            say(f"local: running the function in a sandbox, not a container: {why}")
        state["runtime"] = {"mode": mode, "image": image or target.container_image, "reason": why}
        _ensure_workers(state, spec, task_dir, mode, image or target.container_image, restart=moto_restarted,
                        say=say)
        _prune_task_dirs(task_dir)
        _write_state(state)
        warnings = tuple(_target_mismatches(target, state))
        for warning in warnings:
            say(f"local: warning: {warning}")
        return UpResult(state, environment(state), warnings)


def _ensure_moto(state: dict[str, Any], port: int, say: Say) -> bool:
    current = state.get("moto") or {}
    ref = procs.ProcessRef.from_dict(current.get("process"))
    if procs.alive(ref) and current.get("port") == port and moto_server.responding(port):
        return False
    if ref is not None:
        procs.stop(ref)
    say(f"local: starting moto server on 127.0.0.1:{port}")
    server = moto_server.start(port, stack_dir() / "moto.log")
    state["moto"] = {"process": server.process.to_dict(), "port": port}
    state["endpoint"] = server.url
    return True


def _ensure_database(state: dict[str, Any], target: Target, spec: StackSpec,
                     say: Say) -> postgres.Connection:
    url = (target.local.database_url or "").strip()
    if url:
        conn = postgres.from_url(url)
        postgres.check_reachable(conn)
        previous = postgres.Embedded.from_dict((state.get("database") or {}).get("embedded"))
        postgres.stop_embedded(previous)
        state["database"] = {"mode": "external", "connection": conn.to_dict()}
        say(f"local: using the database at {conn.host}:{conn.port}/{conn.database}")
    else:
        raw = state.get("database") or {}
        embedded = postgres.Embedded.from_dict(raw.get("embedded"))
        old = postgres.Connection.from_dict(raw["connection"]) if raw.get("connection") else None
        username, database = _database_names(spec)
        if embedded is None:
            embedded = postgres.Embedded(postgres.embedded_data_dir(stack_dir(), stack_id()), procs.free_port(), None)
        if not postgres.running(embedded):
            say("local: starting the embedded Postgres (pgserver)")
        embedded, conn = postgres.start_embedded(
            embedded.data_dir, username=old.username if old else username,
            database=old.database if old else database, port=embedded.port,
            password=old.password if old else None)
        state["database"] = {"mode": "embedded", "embedded": embedded.to_dict(), "connection": conn.to_dict()}
    if target.local.schema_sql is not None:
        postgres.apply_sql(conn, target.local.schema_sql)
    return conn


def _database_names(spec: StackSpec) -> tuple[str, str]:
    """The role and database the template's secret names, so the local secret looks like the deployed one."""
    for secret in spec.secrets:
        value = secret.template_value
        user = value.get("username") or value.get("user")
        name = value.get("database") or value.get("dbname") or value.get("db_name")
        if user and name:
            return str(user), str(name)
    return "worker", "worker"


def _task_dir(zip_bytes: bytes, sha: str) -> Path:
    """The deployed zip extracted, as Lambda extracts it into /var/task: the code that runs is the code in moto."""
    name = "task-" + hashlib.sha256(zip_bytes).hexdigest()[:16]
    folder = stack_dir() / name
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        partial = folder.with_name(name + ".part")
        shutil.rmtree(partial, ignore_errors=True)
        import io

        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            for info in archive.infolist():
                path = archive.extract(info, partial)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(path, mode)
        os.chmod(partial, 0o755)  # noqa: S103 - Lambda's uid 993 reads the task root
        (partial / ".complete").write_text(sha)
        os.replace(partial, folder)
    return folder


def _prune_task_dirs(keep: Path) -> None:
    for folder in stack_dir().glob("task-*"):
        if folder != keep:
            shutil.rmtree(folder, ignore_errors=True)


def _runtime_mode(image: str, require_image: bool) -> tuple[str, str]:
    problem = container.docker_problem(image)
    if problem is None:
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


def _worker_config(state: dict[str, Any], fn: FunctionSpec, spec: StackSpec, task_dir: Path, mode: str,
                   image: str) -> WorkerConfig:
    assert fn.sqs is not None
    resources = state["resources"]
    created = resources["functions"][fn.logical_id]
    queue = resources["queues"][fn.sqs.queue]
    env = lambda_environment(fn.runtime, fn.handler, function_name=fn.function_name, memory_mb=fn.memory_mb,
                             region=spec.region, user_env=created["environment"])
    # Lambda hands the function its role's temporary keys; here, moto's dummy ones and moto's endpoint.
    env.update({"AWS_ACCESS_KEY_ID": moto_server.CREDENTIALS[0], "AWS_SECRET_ACCESS_KEY": moto_server.CREDENTIALS[1],
                "AWS_SESSION_TOKEN": "testing", "AWS_ENDPOINT_URL": state["endpoint"]})
    folder = stack_dir() / "workers" / fn.function_name
    folder.mkdir(parents=True, exist_ok=True)
    sandbox_runtime = ""
    if mode == "sandbox":
        sandbox_runtime = str(container.sandbox_runtime_dir(stack_dir() / "sandbox-runtime"))
    return WorkerConfig(
        function_name=fn.function_name, function_arn=created["arn"], runtime=fn.runtime, handler=fn.handler,
        timeout_s=fn.timeout_s, memory_mb=fn.memory_mb, environment=env, queue_url=queue["url"],
        queue_arn=queue["arn"], batch_size=fn.sqs.batch_size,
        report_batch_item_failures=fn.sqs.report_batch_item_failures, log_group=fn.log_group,
        task_dir=str(task_dir), io_dir=str(folder / "io"), mode=mode, image=image, region=spec.region,
        endpoint=state["endpoint"], stack_id=state["stack_id"], status_file=str(folder / "status.json"),
        invocations_file=str(stack_dir() / "invocations.jsonl"), log_file=str(folder / "function.log"),
        sandbox_runtime_dir=sandbox_runtime, retry_delay_s=int(os.environ.get("DV_LOCAL_RETRY_DELAY_S", "1")),
        concurrency=local_concurrency(fn),
        labels={STACK_LABEL: state["stack_id"], "deployverify.function": fn.function_name})


def _ensure_workers(state: dict[str, Any], spec: StackSpec, task_dir: Path, mode: str, image: str, *,
                    restart: bool, say: Say) -> None:
    workers = state.setdefault("workers", {})
    wanted = {fn.function_name: fn for fn in spec.functions if fn.sqs is not None and fn.sqs.enabled}
    for name in [n for n in workers if n not in wanted]:
        procs.stop(procs.ProcessRef.from_dict(workers.pop(name).get("process")))
    for name, fn in wanted.items():
        config = _worker_config(state, fn, spec, task_dir, mode, image)
        current = workers.get(name) or {}
        ref = procs.ProcessRef.from_dict(current.get("process"))
        if not restart and procs.alive(ref) and current.get("config") == config.to_dict():
            continue
        procs.stop(ref)
        container.remove_containers({STACK_LABEL: state["stack_id"], "deployverify.function": name})
        status_file = Path(config.status_file)
        status_file.unlink(missing_ok=True)
        workers[name] = {"config": config.to_dict()}
        _write_state(state)
        say(f"local: starting the worker for {name} ({mode}; the runtime's first init takes a few seconds)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=moto_server.CREDENTIALS[0], AWS_SECRET_ACCESS_KEY=moto_server.CREDENTIALS[1],
                   AWS_REGION=spec.region, AWS_DEFAULT_REGION=spec.region, AWS_ENDPOINT_URL=state["endpoint"])
        log = status_file.parent / "worker.log"
        ref = procs.spawn([sys.executable, "-m", "deployverify.local.worker", str(state_path()), name], log, env=env)
        workers[name]["process"] = ref.to_dict()
        _write_state(state)
        status = _wait_worker(ref, status_file, log)
        if status.get("status") == "ready":
            say(f"local: {name} is ready (init {status.get('init_ms')} ms, {status.get('runtime')})")
        else:
            say(f"local: warning: {name} failed to initialise: {status.get('error')}; messages will fail and "
                "reach the DLQ, as in AWS")


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


def _target_mismatches(target: Target, state: dict[str, Any]) -> list[str]:
    """Names in the target file that the local stack did not create: a smoke run would look in the wrong place."""
    resources = state.get("resources") or {}
    found: list[str] = []
    buckets = set((resources.get("buckets") or {}).values())
    queues = resources.get("queues") or {}
    queue_names = {q["name"] for q in queues.values()} | {q["url"] for q in queues.values()}
    secrets = {s["name"] for s in (resources.get("secrets") or {}).values()} | \
              {s["arn"] for s in (resources.get("secrets") or {}).values()}
    functions = {f["name"] for f in (resources.get("functions") or {}).values()}
    pipeline = target.pipeline
    if pipeline is not None and pipeline.bucket not in buckets:
        found.append(f"pipeline.bucket is {pipeline.bucket!r}; the local stack made {sorted(buckets)}")
    if pipeline is not None and pipeline.trigger.queue and \
            pipeline.trigger.queue.rstrip("/").rsplit("/", 1)[-1] not in queue_names:
        found.append(f"pipeline.trigger.queue is {pipeline.trigger.queue!r}; not a local queue")
    if target.dlq and target.dlq.rstrip("/").rsplit("/", 1)[-1] not in queue_names:
        found.append(f"dlq.queue is {target.dlq!r}; not a local queue")
    for secret in target.secrets:
        if secret.id not in secrets:
            found.append(f"secret {secret.name!r} has id {secret.id!r}; the local stack made {sorted(secrets)}")
    for fn in target.functions:
        if fn.function_name and fn.function_name not in functions:
            found.append(f"function {fn.name!r} is deployed as {fn.function_name!r}; the local stack made "
                         f"{sorted(functions)}")
    return found


# --- down and status ----------------------------------------------------------------------------------------------


def down(*, say: Say = _stderr) -> dict[str, Any]:
    """Stop and remove everything this stack started; what was removed and anything that would not go."""
    with _locked():
        state = read_state() or {}
        removed: list[str] = []
        left: list[str] = []
        for name, worker in (state.get("workers") or {}).items():
            ref = procs.ProcessRef.from_dict(worker.get("process"))
            if procs.alive(ref):
                (removed if procs.stop(ref) else left).append(f"worker {name} (pid {ref.pid if ref else '?'})")
        labels = {STACK_LABEL: stack_id()}
        count = container.remove_containers(labels)
        if count:
            removed.append(f"{count} container(s)")
        left += [f"container {c}" for c in container.list_containers(labels)]
        moto = state.get("moto") or {}
        ref = procs.ProcessRef.from_dict(moto.get("process"))
        if procs.alive(ref):
            (removed if procs.stop(ref) else left).append(f"moto server (pid {ref.pid if ref else '?'})")
        embedded = postgres.Embedded.from_dict((state.get("database") or {}).get("embedded"))
        if embedded is None:
            guess = postgres.embedded_data_dir(stack_dir(), stack_id())
            if (guess / "PG_VERSION").exists():
                embedded = postgres.Embedded(guess, 0, postgres.SYSTEM_USER_AS_ROOT if os.geteuid() == 0 else None)
        if embedded is not None:
            was_running = postgres.running(embedded)
            if postgres.stop_embedded(embedded):
                removed.append("embedded Postgres" if was_running else "embedded Postgres data")
            else:
                left.append(f"embedded Postgres in {embedded.data_dir}")
        for child in stack_dir().iterdir() if stack_dir().exists() else ():
            if child.name == ".lock":
                continue
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        for line in removed:
            say(f"local: removed {line}")
        for line in left:
            say(f"local: could not remove {line}")
        return {"removed": removed, "left": left}


def status() -> dict[str, Any]:
    state = read_state()
    if not state:
        return {"up": False, "state": str(state_path())}
    moto = state.get("moto") or {}
    moto_ok = procs.alive(procs.ProcessRef.from_dict(moto.get("process"))) and \
        moto_server.responding(int(moto.get("port", 0)))
    database = state.get("database") or {}
    embedded = postgres.Embedded.from_dict(database.get("embedded"))
    db_ok = postgres.running(embedded) if embedded else None
    workers = {}
    for name, worker in (state.get("workers") or {}).items():
        alive = procs.alive(procs.ProcessRef.from_dict(worker.get("process")))
        try:
            report = json.loads(Path(worker["config"]["status_file"]).read_text())
        except (OSError, ValueError, KeyError):
            report = {}
        workers[name] = {"alive": alive, **{k: report.get(k) for k in (
            "status", "mode", "runtime", "init_ms", "error", "invocations", "last_status", "last_error",
            "concurrency", "environments")}}
    healthy = moto_ok and db_ok is not False and all(w["alive"] for w in workers.values())
    conn = database.get("connection") or {}
    return {
        "up": True, "healthy": healthy, "target": state.get("target"), "state": str(state_path()),
        "endpoint": state.get("endpoint"), "moto": moto_ok, "region": state.get("region"),
        "database": {"mode": database.get("mode"), "running": db_ok,
                     "where": f"{conn.get('host')}:{conn.get('port')}/{conn.get('database')}"},
        "runtime": state.get("runtime"), "workers": workers, "resources": state.get("resources"),
        "not_emulated": state.get("ignored", []), "env": environment(state),
    }


def invocations() -> list[dict[str, Any]]:
    """Every invocation the local workers ran, oldest first: durations, harness overhead, outcome (for bench/)."""
    path = stack_dir() / "invocations.jsonl"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]
