"""The local stack: `up(target)`, `down()`, `status()`; `stack_environment.py` has the environment a smoke run needs.

Everything lives under `<cache dir>/local/` (`deployverify.core.run_ids.cache_dir()`): `state.json` (what runs, with
pids and ports: `stack_state.py`), the extracted task root, the worker's log pipe, logs and invocation records.
`up` is idempotent (what runs and matches is kept, what died or changed is restarted) and saves the state after
every component, so `down` removes everything (worker processes, containers found by label, the moto server, the
embedded Postgres and its data) even after `up` crashed halfway.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from filelock import FileLock

from deployverify.aws.session import client
from deployverify.core.errors import DeployVerifyError
from deployverify.core.run_ids import cache_dir, now_iso
from deployverify.core.zipper import code_sha256, zip_bundle
from deployverify.lambda_image import docker
from deployverify.local import moto_server, postgres, procs
from deployverify.local.function_workers import STACK_LABEL, ensure_workers, runtime_mode, worker_status
from deployverify.local.resources import Creator
from deployverify.local.stack_environment import environment
from deployverify.local.stack_state import (
    DatabaseRecord,
    MotoRecord,
    RuntimeChoice,
    StackResources,
    StackState,
    read_state,
    stack_dir,
    stack_id,
    state_path,
    write_state,
)
from deployverify.sam.template import StackSpec, load_stack_spec
from deployverify.target.model import Target

# read_state, state_path, stack_dir and environment are re-exported: callers think of them as the stack's.
__all__ = ["STACK_LABEL", "UpResult", "down", "environment", "invocations", "read_state", "stack_dir", "state_path",
           "status", "up"]

DEFAULT_REGION = "us-east-1"

Say = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def _locked() -> Iterator[None]:
    stack_dir().mkdir(parents=True, exist_ok=True)
    with FileLock(str(stack_dir() / ".lock"), timeout=600):
        yield


def _region(target: Target) -> str:
    return target.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


# --- up -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpResult:
    state: StackState
    env: dict[str, str]
    warnings: tuple[str, ...]


def _fresh_state(target: Target, previous: StackState | None) -> StackState:
    """The state `up` starts from: what runs for this target already (to converge), or nothing."""
    if previous is not None and previous.target != str(target.source_path):
        raise DeployVerifyError(f"a local stack for {previous.target} is up; run `deployverify local down` "
                                "first", where=str(state_path()))
    now = now_iso()
    if previous is None:
        return StackState(target=str(target.source_path), target_name=target.name, stack_id=stack_id(),
                          region=_region(target), created_at=now, updated_at=now)
    return replace(previous, target_name=target.name, stack_id=stack_id(), region=_region(target), updated_at=now)


def up(target: Target, *, image: str | None = None, require_image: bool = False, say: Say = _stderr) -> UpResult:
    if target.local.template is None:
        raise DeployVerifyError("the local stack needs the SAM template: set local.template in the target file",
                                where=str(target.source_path or "target"))
    with _locked():
        state = _fresh_state(target, read_state())
        region = state.region
        spec, values = load_stack_spec(target.local.template, region=region, stack_name=f"{target.name}-local")
        # Chosen before anything is built or started: a wrong --image fails here, with nothing to clean up.
        wanted_image = image or target.container_image
        mode, why = runtime_mode(wanted_image, require_image, (fn.runtime for fn in spec.functions))

        say("local: building the bundle")
        from deployverify.gate.build.build import ensure_built

        built = ensure_built(target, cache_dir())
        zip_bytes = zip_bundle(built.path)
        sha = code_sha256(zip_bytes)

        state, moto_restarted = _ensure_moto(state, target.local.moto_port, say)
        write_state(state)
        state = _ensure_database(state, target, spec, say)
        write_state(state)
        assert state.database is not None

        say(f"local: creating resources from {target.local.template.name} in moto")
        endpoint = state.endpoint

        def make(service: str) -> Any:
            return client(service, region_name=region, endpoint_url=endpoint, credentials=moto_server.CREDENTIALS)

        database_secret = None
        if target.database is not None:
            try:
                database_secret = target.secret(target.database.secret).id
            except KeyError:
                database_secret = None
        created = Creator(spec, values, make).all(zip_bytes=zip_bytes, db=state.database.connection,
                                                    database_secret=database_secret,
                                                    secret_overrides=dict(target.local.secret_values))
        state = replace(state, resources=StackResources.from_created(created, spec), ignored=tuple(spec.ignored))
        write_state(state)

        task_dir = _task_dir(zip_bytes, sha)
        if mode == "sandbox":
            say(f"local: running the function in a sandbox, not a container: {why}")
        state = replace(state, runtime=RuntimeChoice(mode, wanted_image, why))
        state = ensure_workers(state, spec, task_dir, mode, wanted_image, restart=moto_restarted, say=say)
        _prune_task_dirs(task_dir)
        write_state(state)
        warnings = tuple(_target_mismatches(target, state))
        for warning in warnings:
            say(f"local: warning: {warning}")
        return UpResult(state, environment(state), warnings)


def _ensure_moto(state: StackState, port: int, say: Say) -> tuple[StackState, bool]:
    """The state with a moto server answering on `port`, and whether it had to be (re)started."""
    current = state.moto
    ref = current.process if current else None
    if procs.alive(ref) and current is not None and current.port == port and moto_server.responding(port):
        return state, False
    if ref is not None:
        procs.stop(ref)
    say(f"local: starting moto server on 127.0.0.1:{port}")
    server = moto_server.start(port, stack_dir() / "moto.log")
    return replace(state, moto=MotoRecord(server.process, port), endpoint=server.url), True


def _ensure_database(state: StackState, target: Target, spec: StackSpec, say: Say) -> StackState:
    url = (target.local.database_url or "").strip()
    previous = state.database
    if url:
        conn = postgres.from_url(url)
        postgres.check_reachable(conn)
        postgres.stop_embedded(previous.embedded if previous else None)
        database = DatabaseRecord("external", conn)
        say(f"local: using the database at {conn.host}:{conn.port}/{conn.database}")
    else:
        embedded = previous.embedded if previous else None
        old = previous.connection if previous else None
        username, name = _database_names(spec)
        if embedded is None:
            embedded = postgres.Embedded(postgres.embedded_data_dir(stack_dir(), stack_id()), procs.free_port(), None)
        if not postgres.running(embedded):
            say("local: starting the embedded Postgres (pgserver)")
        embedded, conn = postgres.start_embedded(
            embedded.data_dir, username=old.username if old else username,
            database=old.database if old else name, port=embedded.port,
            password=old.password if old else None)
        database = DatabaseRecord("embedded", conn, embedded)
    if target.local.schema_sql is not None:
        postgres.apply_sql(conn, target.local.schema_sql)
    return replace(state, database=database)


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


def _target_mismatches(target: Target, state: StackState) -> list[str]:
    """Names in the target file that the local stack did not create: a smoke run would look in the wrong place."""
    resources = state.resources
    found: list[str] = []
    buckets = set(resources.buckets.values())
    queue_names = {q.name for q in resources.queues.values()} | {q.url for q in resources.queues.values()}
    secrets = {s.name for s in resources.secrets.values()} | {s.arn for s in resources.secrets.values()}
    functions = {f.name for f in resources.functions.values()}
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
        state = read_state()
        removed: list[str] = []
        left: list[str] = []
        for name, worker in (state.workers if state else {}).items():
            ref = worker.process
            if ref is not None and procs.alive(ref):
                (removed if procs.stop(ref) else left).append(f"worker {name} (pid {ref.pid})")
        labels = {STACK_LABEL: stack_id()}
        count = docker.remove_containers(labels)
        if count:
            removed.append(f"{count} container(s)")
        left += [f"container {c}" for c in docker.list_containers(labels)]
        ref = state.moto.process if state and state.moto else None
        if ref is not None and procs.alive(ref):
            (removed if procs.stop(ref) else left).append(f"moto server (pid {ref.pid})")
        embedded = state.database.embedded if state and state.database else None
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
    """What runs and how healthy it is, as plain data (`deployverify local status --json` prints it)."""
    state = read_state()
    if not state:
        return {"up": False, "state": str(state_path())}
    moto = state.moto
    moto_ok = moto is not None and procs.alive(moto.process) and moto_server.responding(moto.port)
    database = state.database
    embedded = database.embedded if database else None
    db_ok = postgres.running(embedded) if embedded else None
    workers = {name: worker_status(worker) for name, worker in state.workers.items()}
    healthy = moto_ok and db_ok is not False and all(w["alive"] for w in workers.values())
    conn = database.connection if database else None
    return {
        "up": True, "healthy": healthy, "target": state.target, "state": str(state_path()),
        "endpoint": state.endpoint or None, "moto": moto_ok, "region": state.region,
        "database": {"mode": database.mode if database else None, "running": db_ok,
                     "where": f"{conn.host}:{conn.port}/{conn.database}" if conn else "None:None/None"},
        "runtime": state.runtime.to_dict() if state.runtime else None, "workers": workers,
        "resources": state.resources.to_dict(), "not_emulated": list(state.ignored), "env": environment(state),
    }


def invocations() -> list[dict[str, Any]]:
    """Every invocation the local workers ran, oldest first: durations, harness overhead, outcome (for bench/)."""
    path = stack_dir() / "invocations.jsonl"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]
