"""What a SAM application is, read before deploy: its zip functions (Globals merged in), its layers, and the
functions deployverify cannot check with the reason. Values only a deploy knows are `Unresolved`, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from deployverify.sam.intrinsics import Unresolved

DEFAULT_TIMEOUT_S = 3  # Lambda's defaults when neither the function nor Globals say
DEFAULT_MEMORY_MB = 128
DEFAULT_SQS_BATCH_SIZE = 10

Value = str | Unresolved


@dataclass(frozen=True)
class LayerRef:
    """One entry of a function's Layers: a LayerVersion in this template, or an ARN published elsewhere."""

    logical_id: str | None = None
    arn: Value | None = None

    def describe(self) -> str:
        if isinstance(self.arn, Unresolved) and self.arn.partial:
            return self.arn.partial
        return self.logical_id or str(self.arn)


@dataclass(frozen=True)
class SamLayer:
    logical_id: str
    line: int
    content_uri: Path | None  # the folder that holds python/...; None when it is not on this machine (s3://)
    build_method: str | None = None
    compatible_runtimes: tuple[str, ...] = ()

    def built_folder(self, build_dir: Path) -> Path | None:
        """Where the layer's code is after `sam build`: built layers land in <build dir>/<Id>, others are uploaded
        from ContentUri as they are."""
        return build_dir / self.logical_id if self.build_method else self.content_uri


@dataclass(frozen=True)
class QueueRef:
    """An SQS queue: `logical_id` when it is a queue in this template, else its resolved ARN (or Unresolved)."""

    logical_id: str | None = None
    arn: Value | None = None

    def describe(self) -> str:
        return self.logical_id or str(self.arn)


@dataclass(frozen=True)
class SqsTrigger:
    event: str  # the event's name under Events (or the EventSourceMapping's logical id)
    queue: QueueRef
    batch_size: int = DEFAULT_SQS_BATCH_SIZE
    enabled: bool = True


@dataclass(frozen=True)
class SamFunction:
    logical_id: str
    line: int
    runtime: str
    handler: str
    code_uri: Path | None  # absolute; None for inline code or code stored in S3
    function_name: Value | None = None  # None: CloudFormation generates one from the stack name
    build_method: str | None = None
    timeout_s: int | Unresolved = DEFAULT_TIMEOUT_S
    memory_mb: int | Unresolved = DEFAULT_MEMORY_MB
    architectures: tuple[str, ...] = ("x86_64",)
    layers: tuple[LayerRef, ...] = ()
    environment: dict[str, Value] = field(default_factory=dict)
    reserved_concurrency: int | Unresolved | None = None
    sqs: SqsTrigger | None = None
    dlq: QueueRef | None = None  # where messages that keep failing go: the trigger queue's redrive target first

    @property
    def architecture(self) -> str:
        return self.architectures[0] if self.architectures else "x86_64"


@dataclass(frozen=True)
class NotApplicable:
    """A function in the template that deployverify does not check, and why (an image, another language)."""

    logical_id: str
    line: int
    reason: str


@dataclass(frozen=True)
class SamApplication:
    template: Path
    parameters: dict[str, str]
    functions: tuple[SamFunction, ...]
    layers: tuple[SamLayer, ...] = ()
    not_applicable: tuple[NotApplicable, ...] = ()

    def function(self, logical_id: str) -> SamFunction:
        for function in self.functions:
            if function.logical_id == logical_id:
                return function
        raise KeyError(logical_id)

    def layer(self, logical_id: str) -> SamLayer | None:
        return next((layer for layer in self.layers if layer.logical_id == logical_id), None)

    @property
    def build_dir(self) -> Path:
        return self.template.parent / ".aws-sam" / "build"
