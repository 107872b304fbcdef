"""What the local stack tells one function's event-source process: the function, its trigger queue, where to log.

`deployverify local up` writes it into the stack's state file; the process (`python -m deployverify.local`) reads it
back, so it is plain JSON both ways.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class LocalFunctionConfig:
    function_name: str
    function_arn: str
    runtime: str
    handler: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool
    log_group: str
    task_dir: str
    io_dir: str
    mode: str  # docker or sandbox
    image: str
    region: str
    endpoint: str
    stack_id: str
    status_file: str
    invocations_file: str
    log_file: str
    sandbox_runtime_dir: str = ""
    retry_delay_s: int = 1
    concurrency: int = 1  # execution environments, so batches in flight, at most
    labels: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LocalFunctionConfig:
        return cls(**raw)
