"""The typed target: what one deployable worker is, after the file is validated and interpolated.

Paths are absolute (resolved against the target file's folder), so nothing downstream depends on the working folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_IMAGE = "public.ecr.aws/lambda/python:{version}"


@dataclass(frozen=True)
class SamBuild:
    template: Path
    function: str


@dataclass(frozen=True)
class Bundle:
    output: Path
    command: str | None = None
    cwd: Path | None = None
    sam: SamBuild | None = None
    source: Path | None = None
    requirements: Path | None = None
    inputs: tuple[Path, ...] = ()
    layers: tuple[Path, ...] = ()
    # Layers given by ARN, with their place among all the declared layers (Lambda extracts them in that order):
    # downloaded or rebuilt when the bundle is built (gate/build/remote_layers.py).
    remote_layers: tuple[tuple[int, str], ...] = ()
    source_roots: tuple[Path, ...] = ()
    # Architectures whose probe may be skipped where the host cannot run their image (only static checks then).
    static_only: tuple[str, ...] = ()

    @property
    def prebuilt(self) -> bool:
        return self.command is None and self.sam is None and self.source is None


@dataclass(frozen=True)
class Function:
    name: str
    handler: str
    function_name: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    memory_mb: int | None = None
    timeout_s: int | None = None
    reserved_concurrency: int | None = None
    init_budget_ms: int = 3000
    bundle: Bundle | None = None  # its own code and layers; None: the target's top-level bundle
    runtime: str | None = None  # None: the target's runtime
    architecture: str | None = None  # None: the target's architecture


@dataclass(frozen=True)
class Allow:
    rule: str
    reason: str
    path: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Scan:
    paths: tuple[Path, ...] = ()
    exclude: tuple[str, ...] = ()
    must_reach: dict[str, tuple[str, ...]] = field(default_factory=dict)
    allow: tuple[Allow, ...] = ()
    orphan_min_lines: int = 60
    baseline: Path | None = None
    fail_on_todo: bool = False  # DV306: TODO markers on the reached path fail instead of warn


@dataclass(frozen=True)
class Secret:
    id: str
    name: str
    env: str | None = None
    required: tuple[str, ...] = ()
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Database:
    secret: str
    connect_timeout_s: int = 5


@dataclass(frozen=True)
class Seed:
    email: str
    sql: Path | None = None
    schema: Path | None = None


@dataclass(frozen=True)
class Expectation:
    type: str | None = None
    min_confidence: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Document:
    file: Path
    expect: Expectation = field(default_factory=Expectation)


@dataclass(frozen=True)
class Trigger:
    type: str = "sqs"
    queue: str | None = None
    function: str | None = None
    message: dict[str, Any] = field(default_factory=lambda: {"document_id": "{document_id}", "run_id": "{run_id}"})


@dataclass(frozen=True)
class Pipeline:
    bucket: str
    documents: tuple[Document, ...]
    key_prefix: str = "deployverify"
    trigger: Trigger = field(default_factory=Trigger)
    status_table: str = "documents"
    id_column: str = "id"
    status_column: str = "status"
    type_column: str = "document_type"
    confidence_column: str = "confidence"
    fields_column: str = "fields"
    error_column: str = "error"
    final_status: str = "processed"
    failed_status: str = "failed"
    timeout_s: float = 120.0


@dataclass(frozen=True)
class Logs:
    group: str | None = None
    markers: tuple[str, ...] = ()
    max_duration_ms: int | None = None


@dataclass(frozen=True)
class ScheduledTask:
    """A function EventBridge runs on a schedule: a rule (or an EventBridge Scheduler schedule) with this expression
    must exist, be enabled and target the function."""

    function: str
    expression: str
    rule: str | None = None  # the rule's (or schedule's) name; found by its target when not given
    kind: str = "rule"  # "rule" (EventBridge rule) or "scheduler" (EventBridge Scheduler schedule)
    group: str = "default"  # the Scheduler's schedule group


@dataclass(frozen=True)
class MigrationPhase:
    name: str
    checks: tuple[str, ...]


@dataclass(frozen=True)
class CanaryMetric:
    """Where the canary publishes its own result, so an alarm can page on a failed or a missing canary."""

    namespace: str = "deployverify/canary"
    dimensions: dict[str, str] = field(default_factory=dict)  # empty: {"Target": <target name>}


# The defaults are the seed's KPIs: success rate > 95%, P95 < 120 s, error rate < 1%, no DLQ message, no timeout,
# a $10/month billing alarm.
@dataclass(frozen=True)
class Canary:
    window_min: int = 1440
    max_queue_age_s: int = 900
    stuck_after_min: int = 60
    timestamp_column: str = "updated_at"
    min_success_percent: float = 95.0
    max_error_percent: float = 1.0
    max_p95_duration_s: float = 120.0
    max_timeouts: int = 0
    max_dlq_messages: int = 0
    dlq_warn_retention_percent: float = 50.0
    max_db_connections_percent: float = 80.0
    min_timeout_margin_percent: float = 20.0
    budget_usd_month: float = 10.0
    ai_cost_per_document_usd: float = 0.0
    schedules: tuple[ScheduledTask, ...] = ()
    phases: tuple[MigrationPhase, ...] = ()
    phase_reports: tuple[Path, ...] = ()  # earlier runs' report.json (say, the deploy's gate) for ids not run here
    metric: CanaryMetric = field(default_factory=CanaryMetric)


@dataclass(frozen=True)
class Local:
    template: Path | None = None
    schema_sql: Path | None = None
    database_url: str | None = None
    secret_values: dict[str, Any] = field(default_factory=dict)
    moto_port: int = 5055


@dataclass(frozen=True)
class Target:
    name: str
    runtime: str
    functions: tuple[Function, ...]
    bundle: Bundle
    source_path: Path | None = None
    architecture: str = "x86_64"
    image: str | None = None
    region: str | None = None
    scan: Scan = field(default_factory=Scan)
    secrets: tuple[Secret, ...] = ()
    database: Database | None = None
    seed: Seed | None = None
    pipeline: Pipeline | None = None
    logs: Logs = field(default_factory=Logs)
    dlq: str | None = None
    history: str | None = None  # a JSON-lines file path or an s3://bucket/prefix/ (canary/history.py)
    canary: Canary = field(default_factory=Canary)
    local: Local = field(default_factory=Local)

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")

    @property
    def container_image(self) -> str:
        return self.image or DEFAULT_IMAGE.format(version=self.python_version)

    @property
    def base_dir(self) -> Path:
        return self.source_path.parent if self.source_path else self.bundle.output

    def bundle_of(self, function: Function) -> Bundle:
        return function.bundle or self.bundle

    def function(self, name: str) -> Function:
        for function in self.functions:
            if function.name == name:
                return function
        raise KeyError(name)

    def platform_of(self, function: Function) -> tuple[str, str]:
        """(runtime, architecture) the function runs on: its own where it says, else the target's."""
        return function.runtime or self.runtime, function.architecture or self.architecture

    def for_function(self, name: str) -> Target:
        """The target as the gate sees one function: that function alone, its own bundle as the bundle, its own
        runtime and architecture as the target's (a mixed application is judged function by function)."""
        function = self.function(name)
        runtime, architecture = self.platform_of(function)
        return replace(self, functions=(function,), bundle=self.bundle_of(function), runtime=runtime,
                       architecture=architecture)

    def sharing_code(self, name: str) -> Target:
        """The functions that run the same bundle as `name` (same code, same layers) on the same runtime and
        architecture with the same environment, with that bundle: what one probe and one scan cover, so shared code
        is probed once. The environment counts because the probe imports every handler under one environment, as
        Lambda does each function's under its own: a module reading another function's variable at import would
        fail a function that sets it."""
        function = self.function(name)
        bundle, platform = self.bundle_of(function), self.platform_of(function)
        runtime, architecture = platform
        return replace(self, functions=tuple(f for f in self.functions if self.bundle_of(f) == bundle
                                             and self.platform_of(f) == platform
                                             and f.environment == function.environment),
                       bundle=bundle, runtime=runtime, architecture=architecture)

    def secret(self, name: str) -> Secret:
        for secret in self.secrets:
            if name in (secret.name, secret.id):
                return secret
        raise KeyError(name)

    def source_roots(self) -> tuple[Path, ...]:
        """Folders of first-party source in the repository, used to suggest fixes for missing modules."""
        if self.bundle.source_roots:
            return self.bundle.source_roots
        return (self.bundle.source,) if self.bundle.source else ()
