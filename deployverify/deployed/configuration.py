"""The deployed function against what the template declares: runtime, handler, timeout, memory, reserved
concurrency and environment keys (never values). The code itself (CodeSha256) is compared in code_identity.py.

"The template" is the SAM template when the target names one (`local.template` or `bundle.sam.template`), with the
target's `functions[]` settings filling what the template leaves out (or standing in when there is no template).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deployverify.core.errors import DeployVerifyError
from deployverify.target.model import Function, Target


@dataclass(frozen=True)
class Expected:
    function_name: str
    runtime: str | None = None
    handler: str | None = None
    timeout_s: int | None = None
    memory_mb: int | None = None
    reserved_concurrency: int | None = None
    environment_keys: tuple[str, ...] | None = None
    source: str = "the target file"


@dataclass(frozen=True)
class Deployed:
    function_name: str
    runtime: str | None
    handler: str | None
    timeout_s: int | None
    memory_mb: int | None
    reserved_concurrency: int | None
    environment_keys: tuple[str, ...]
    code_sha256: str | None
    last_modified: str | None = None


@dataclass(frozen=True)
class Mismatch:
    field: str
    found: str
    expected: str


class FunctionMissing(Exception):
    def __init__(self, function: str, reason: str) -> None:
        super().__init__(f"{function}: {reason}")
        self.function = function
        self.reason = reason


def template_path(target: Target) -> Path | None:
    if target.local.template is not None:
        return target.local.template
    if target.bundle.sam is not None:
        return target.bundle.sam.template
    return None


def expected_config(target: Target, function: Function) -> Expected:
    name = function.function_name or function.name
    from_target = Expected(
        function_name=name, runtime=target.runtime, handler=function.handler, timeout_s=function.timeout_s,
        memory_mb=function.memory_mb, reserved_concurrency=function.reserved_concurrency,
        environment_keys=tuple(sorted(function.environment)) or None)
    template = template_path(target)
    if template is None:
        return from_target
    from deployverify.sam.application import load_application
    from deployverify.sam.intrinsics import Unresolved

    try:
        app = load_application(template, pseudo={"AWS::Region": target.region} if target.region else None)
    except (DeployVerifyError, OSError):
        return from_target
    candidates = [f for f in app.functions if f.function_name == name] or \
        [f for f in app.functions if f.logical_id == function.name] or \
        (list(app.functions) if len(app.functions) == 1 else [])
    if not candidates:
        return from_target
    found = candidates[0]

    def known(value: int | Unresolved | None, fallback: int | None) -> int | None:
        return value if isinstance(value, int) else fallback

    return Expected(
        function_name=name, runtime=found.runtime, handler=found.handler,
        timeout_s=known(found.timeout_s, function.timeout_s), memory_mb=known(found.memory_mb, function.memory_mb),
        reserved_concurrency=known(found.reserved_concurrency, function.reserved_concurrency),
        environment_keys=tuple(sorted(found.environment)) if found.environment else from_target.environment_keys,
        source=f"{template.name} ({found.logical_id})")


class FunctionUnreadable(Exception):
    """Lambda did not answer (endpoint unreachable, denied, throttled past every retry): nothing is known about the
    function, which is not the same as its absence."""

    def __init__(self, function: str, reason: str) -> None:
        super().__init__(f"{function}: {reason}")
        self.function = function
        self.reason = reason


def deployed_config(client: Any, function_name: str) -> Deployed:
    try:
        response = client.get_function(FunctionName=function_name)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "ResourceNotFoundException":
            raise FunctionMissing(function_name, "ResourceNotFoundException (no such function in this account "
                                                 "and region)") from None
        raise FunctionUnreadable(function_name, f"{type(exc).__name__}: {exc}") from None
    except BotoCoreError as exc:  # no answer at all: connection refused or reset, timeouts
        raise FunctionUnreadable(function_name, f"{type(exc).__name__}: {exc}") from None
    config = response.get("Configuration", {})
    reserved = (response.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    if reserved is None:
        try:
            reserved = client.get_function_concurrency(FunctionName=function_name).get(
                "ReservedConcurrentExecutions")
        except (ClientError, BotoCoreError):
            reserved = None
    variables = (config.get("Environment") or {}).get("Variables") or {}
    return Deployed(
        function_name=function_name, runtime=config.get("Runtime"), handler=config.get("Handler"),
        timeout_s=config.get("Timeout"), memory_mb=config.get("MemorySize"),
        reserved_concurrency=int(reserved) if reserved is not None else None,
        environment_keys=tuple(sorted(variables)), code_sha256=config.get("CodeSha256"),
        last_modified=config.get("LastModified"))


def _keys(keys: tuple[str, ...] | None) -> str:
    return ", ".join(keys) if keys else "(none)"


def compare(expected: Expected, deployed: Deployed) -> list[Mismatch]:
    found: list[Mismatch] = []
    for name, label in (("runtime", "runtime"), ("handler", "handler"), ("timeout_s", "timeout (s)"),
                        ("memory_mb", "memory (MB)"), ("reserved_concurrency", "reserved concurrency")):
        wanted = getattr(expected, name)
        actual = getattr(deployed, name)
        if wanted is not None and actual != wanted:
            found.append(Mismatch(label, "unset" if actual is None else str(actual), str(wanted)))
    if expected.environment_keys is not None and set(expected.environment_keys) != set(deployed.environment_keys):
        missing = sorted(set(expected.environment_keys) - set(deployed.environment_keys))
        extra = sorted(set(deployed.environment_keys) - set(expected.environment_keys))
        detail = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                             f"extra {', '.join(extra)}" if extra else "") if part)
        found.append(Mismatch(f"environment keys ({detail})", _keys(deployed.environment_keys),
                              _keys(expected.environment_keys)))
    return found
