"""The one place that makes boto3 clients, for the smoke suite and the local stack alike.

Credentials come from boto3's standard chain (environment, profile, SSO, instance role). Endpoints come from boto3
too: since 1.28 it reads `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` (and `endpoint_url` in the profile)
by itself, which is how the local stack points every client, ours and the worker's, at its loopback moto server.
This module only adds what boto3 has no default for: the target's region, bounded timeouts and the retry mode.

    from deployverify.aws.session import client
    sqs = client("sqs", target)
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config

from deployverify.core import retries
from deployverify.core.errors import DeployVerifyError
from deployverify.target.model import Target

RETRY_MODES = ("standard", "adaptive", "legacy")
DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 4
# Short enough that an unreachable endpoint fails a check in seconds, long enough for a cold Secrets Manager call.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0

_lock = threading.Lock()
_sessions: dict[tuple[Any, ...], boto3.session.Session] = {}
_clients: dict[tuple[Any, ...], Any] = {}


def region(target: Target | None = None) -> str:
    """target.region, else AWS_REGION / AWS_DEFAULT_REGION, else the profile's region; an error when none is set."""
    found = (target.region if target else None) or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if found:
        return found
    profile_region = boto3.session.Session().region_name
    if profile_region:
        return profile_region
    raise DeployVerifyError("no AWS region: set `region:` in the target file or AWS_REGION in the environment")


def config(*, retry_mode: str | None = None, max_attempts: int | None = None,
           connect_timeout_s: float = CONNECT_TIMEOUT_S, read_timeout_s: float = READ_TIMEOUT_S) -> Config:
    mode = retry_mode or os.environ.get("DV_AWS_RETRY_MODE") or DEFAULT_RETRY_MODE
    if mode not in RETRY_MODES:
        raise DeployVerifyError(f"retry mode {mode!r} is not one of {', '.join(RETRY_MODES)}",
                                where="DV_AWS_RETRY_MODE")
    retries: Any = {"mode": mode, "max_attempts": max_attempts or _env_attempts() or DEFAULT_MAX_ATTEMPTS}
    return Config(retries=retries, connect_timeout=connect_timeout_s, read_timeout=read_timeout_s)


def _env_attempts() -> int | None:
    """DV_AWS_MAX_ATTEMPTS: more attempts for an endpoint known to throttle hard, fewer to fail faster."""
    raw = os.environ.get("DV_AWS_MAX_ATTEMPTS")
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 20:
        raise DeployVerifyError(f"DV_AWS_MAX_ATTEMPTS is {raw!r}; give a whole number from 1 to 20",
                                where="DV_AWS_MAX_ATTEMPTS")
    return int(raw)


def _env_key() -> tuple[tuple[str, str], ...]:
    # A client caches its endpoint and credentials when made; a changed AWS_* environment (say, the local stack's
    # variables applied mid-process) must give a new client, not a stale one.
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(("AWS_", "DV_AWS_"))))


def client(service: str, target: Target | None = None, *, region_name: str | None = None,
           endpoint_url: str | None = None, credentials: tuple[str, str] | None = None,
           retry_mode: str | None = None, max_attempts: int | None = None,
           read_timeout_s: float = READ_TIMEOUT_S) -> Any:
    """A cached, thread-safe boto3 client.

    `endpoint_url` and `credentials` (key id, secret) override the environment's; the local stack passes both so
    its own calls reach moto with dummy keys whatever the caller's shell holds.
    """
    name = region_name or region(target)
    env = _env_key()
    key = (service, name, endpoint_url, credentials, retry_mode, max_attempts, read_timeout_s, env)
    with _lock:
        made = _clients.get(key)
        if made is None:
            # boto3 sessions are not thread-safe, so creating clients happens under the lock; clients themselves are.
            session_key = (name, env) if credentials is None else (name, (*env, ("credentials", credentials[0])))
            session = _sessions.get(session_key)
            if session is None:
                keys: dict[str, Any] = {} if credentials is None else {
                    "aws_access_key_id": credentials[0], "aws_secret_access_key": credentials[1],
                    "aws_session_token": None}
                session = _sessions[session_key] = boto3.session.Session(region_name=name, **keys)
            made = session.client(service, endpoint_url=endpoint_url,  # type: ignore[call-overload]
                                  config=config(retry_mode=retry_mode, max_attempts=max_attempts,
                                                read_timeout_s=read_timeout_s))
            retries.watch_botocore_client(made)  # so each check's evidence can say what was retried
            _clients[key] = made
    return made


def clear_cache() -> None:
    """Forget every cached client (tests that change credentials mid-process call this)."""
    with _lock:
        _clients.clear()
        _sessions.clear()
