"""What the local stack runs, typed: written to `<cache dir>/local/state.json` after every step of `up`, read by
`down`, `status`, `env` and each function's event-source process.

The JSON keeps the shape it always had (bench/smoke_overhead.py and the end-to-end tests read it directly); these
frozen records are the only code that knows that shape. The file is mode 0600 because it holds the database
password.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployverify.core.run_ids import cache_dir
from deployverify.local.function_config import LocalFunctionConfig
from deployverify.local.postgres import Connection, Embedded
from deployverify.local.procs import ProcessRef
from deployverify.local.resources import Created
from deployverify.sam.template import StackSpec

STATE_VERSION = 1


def stack_dir() -> Path:
    return cache_dir() / "local"


def state_path() -> Path:
    return stack_dir() / "state.json"


def stack_id() -> str:
    """Names this stack's containers and temp folders: one stack per cache folder."""
    return hashlib.sha256(str(stack_dir().resolve()).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class QueueRecord:
    name: str
    url: str
    arn: str
    dlq: str | None = None  # logical id of its dead-letter queue
    max_receive_count: str | None = None

    def to_dict(self) -> dict[str, str]:
        raw = {"name": self.name, "url": self.url, "arn": self.arn}
        if self.dlq is not None:
            raw.update(dlq=self.dlq, max_receive_count=str(self.max_receive_count))
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> QueueRecord:
        return cls(raw["name"], raw["url"], raw["arn"], raw.get("dlq"), raw.get("max_receive_count"))


@dataclass(frozen=True)
class SecretRecord:
    name: str
    arn: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "arn": self.arn}


@dataclass(frozen=True)
class FunctionRecord:
    name: str
    arn: str
    code_sha256: str
    environment: dict[str, str]
    log_group: str
    trigger_queue: str | None = None  # logical id of the queue its SQS event source reads

    def to_dict(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"name": self.name, "arn": self.arn, "code_sha256": self.code_sha256,
                               "environment": self.environment, "log_group": self.log_group}
        if self.trigger_queue is not None:
            raw["trigger_queue"] = self.trigger_queue
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FunctionRecord:
        return cls(raw["name"], raw["arn"], raw["code_sha256"], dict(raw["environment"]), raw["log_group"],
                   raw.get("trigger_queue"))


@dataclass(frozen=True)
class StackResources:
    """What `up` created in moto, by the template's logical ids."""

    buckets: dict[str, str] = field(default_factory=dict)
    queues: dict[str, QueueRecord] = field(default_factory=dict)
    secrets: dict[str, SecretRecord] = field(default_factory=dict)
    functions: dict[str, FunctionRecord] = field(default_factory=dict)

    @classmethod
    def from_created(cls, created: Created, spec: StackSpec) -> StackResources:
        triggers = {fn.logical_id: fn.sqs.queue for fn in spec.functions if fn.sqs is not None}
        redrive = {q.logical_id: q for q in spec.queues if q.dead_letter_queue}
        queues = {}
        for logical, raw in created.queues.items():
            queue = redrive.get(logical)
            queues[logical] = QueueRecord(raw["name"], raw["url"], raw["arn"],
                                          queue.dead_letter_queue if queue else None,
                                          str(queue.max_receive_count) if queue else None)
        functions = {logical: FunctionRecord.from_dict({**raw, "trigger_queue": triggers.get(logical)})
                     for logical, raw in created.functions.items()}
        secrets = {logical: SecretRecord(raw["name"], raw["arn"]) for logical, raw in created.secrets.items()}
        return cls(dict(created.buckets), queues, secrets, functions)

    def to_dict(self) -> dict[str, Any]:
        return {"buckets": dict(self.buckets), "queues": {k: q.to_dict() for k, q in self.queues.items()},
                "secrets": {k: s.to_dict() for k, s in self.secrets.items()},
                "functions": {k: f.to_dict() for k, f in self.functions.items()}}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> StackResources:
        raw = raw or {}
        return cls(dict(raw.get("buckets") or {}),
                   {k: QueueRecord.from_dict(q) for k, q in (raw.get("queues") or {}).items()},
                   {k: SecretRecord(s["name"], s["arn"]) for k, s in (raw.get("secrets") or {}).items()},
                   {k: FunctionRecord.from_dict(f) for k, f in (raw.get("functions") or {}).items()})


@dataclass(frozen=True)
class MotoRecord:
    process: ProcessRef | None
    port: int

    def to_dict(self) -> dict[str, Any]:
        return {"process": self.process.to_dict() if self.process else None, "port": self.port}


@dataclass(frozen=True)
class DatabaseRecord:
    mode: str  # "embedded" (pgserver, started by `up`) or "external" (the target's local.database_url)
    connection: Connection
    embedded: Embedded | None = None

    def to_dict(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"mode": self.mode}
        if self.embedded is not None:
            raw["embedded"] = self.embedded.to_dict()
        raw["connection"] = self.connection.to_dict()
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DatabaseRecord:
        return cls(raw["mode"], Connection.from_dict(raw["connection"]), Embedded.from_dict(raw.get("embedded")))


@dataclass(frozen=True)
class RuntimeChoice:
    """Where the function runs: in the image ("docker"), or in a sandbox and why."""

    mode: str
    image: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"mode": self.mode, "image": self.image, "reason": self.reason}


@dataclass(frozen=True)
class WorkerRecord:
    """One function's event-source process: what it was told, and its process once spawned."""

    config: LocalFunctionConfig
    process: ProcessRef | None = None

    def to_dict(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"config": self.config.to_dict()}
        if self.process is not None:
            raw["process"] = self.process.to_dict()
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WorkerRecord:
        return cls(LocalFunctionConfig.from_dict(raw["config"]), ProcessRef.from_dict(raw.get("process")))


@dataclass(frozen=True)
class StackState:
    target: str
    target_name: str
    stack_id: str
    region: str
    created_at: str
    updated_at: str
    endpoint: str = ""
    moto: MotoRecord | None = None
    database: DatabaseRecord | None = None
    resources: StackResources = field(default_factory=StackResources)
    ignored: tuple[str, ...] = ()  # template resources the stack does not emulate
    runtime: RuntimeChoice | None = None
    workers: dict[str, WorkerRecord] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "version": STATE_VERSION, "target": self.target, "target_name": self.target_name,
            "stack_id": self.stack_id, "updated_at": self.updated_at, "created_at": self.created_at,
            "region": self.region}
        if self.moto is not None:
            raw.update(moto=self.moto.to_dict(), endpoint=self.endpoint)
        if self.database is not None:
            raw["database"] = self.database.to_dict()
        raw.update(resources=self.resources.to_dict(), ignored=list(self.ignored))
        if self.runtime is not None:
            raw["runtime"] = self.runtime.to_dict()
        raw["workers"] = {name: worker.to_dict() for name, worker in self.workers.items()}
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StackState:
        moto, database, runtime = raw.get("moto"), raw.get("database"), raw.get("runtime")
        return cls(
            target=raw["target"], target_name=raw.get("target_name", ""), stack_id=raw["stack_id"],
            region=raw["region"], created_at=raw.get("created_at", ""), updated_at=raw.get("updated_at", ""),
            endpoint=raw.get("endpoint", ""),
            moto=MotoRecord(ProcessRef.from_dict(moto.get("process")), int(moto.get("port", 0))) if moto else None,
            database=DatabaseRecord.from_dict(database) if database else None,
            resources=StackResources.from_dict(raw.get("resources")), ignored=tuple(raw.get("ignored") or ()),
            runtime=RuntimeChoice(runtime["mode"], runtime["image"], runtime["reason"]) if runtime else None,
            workers={name: WorkerRecord.from_dict(w) for name, w in (raw.get("workers") or {}).items()})


def load_state(path: Path) -> StackState | None:
    """The state in `path`; None when there is none, or it is unreadable or of another version."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
        return None
    try:
        return StackState.from_dict(raw)
    except (KeyError, TypeError, ValueError):
        return None


def read_state() -> StackState | None:
    """This cache folder's stack, if one is up."""
    return load_state(state_path())


def write_state(state: StackState) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state.to_dict(), out, indent=2)
    partial.replace(path)
