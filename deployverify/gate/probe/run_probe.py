"""Run the import probe (in_sandbox.py) in a sandbox, once per bundle state, and read its report.

The result is cached on disk under a key made of the bundle's cheap fingerprint (paths, sizes, mtimes), the layers',
the probe's source, the runtime, the handlers and the sandbox (for Docker, the image's id), behind a file lock: pytest
-xdist workers asking at once get one probe run between them.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from deployverify.core.errors import DeployVerifyError
from deployverify.core.handler import is_wrapper_script
from deployverify.core.progress import say
from deployverify.gate.probe.imports import BundleIndex
from deployverify.gate.probe.sandbox import Spec, scratch_dir
from deployverify.gate.probe.selection import Selection
from deployverify.lambda_image.runtimes import RUNTIME_DIR, TASK_ROOT, lambda_environment, runtime_info
from deployverify.target.model import Target

PROBE_SOURCE = Path(__file__).with_name("in_sandbox.py")
# Copied beside the probe into the sandbox; in_sandbox.py loads it by this file name.
PROBE_SIBLINGS = (Path(__file__).with_name("in_sandbox_workers.py"),)
MARK = "@@deployverify-probe-report@@"
PROBE_TIMEOUT_S = 1800
HANDLER_TIMEOUT_S = 120
MODULE_TIMEOUT_S = 60
PROBE_MEMORY_MB = 4096
# Address space one import worker may add (RLIMIT_AS, on top of what it has mapped when forked). Generous because
# native libraries map far more than they touch; its job is to stop an unbounded allocation where no cgroup does
# (bubblewrap, plain). Both limits can be lowered from the environment (tests, a CI with less room).
MODULE_MEMORY_MB = 3072


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise DeployVerifyError(f"{name} is {raw!r}, not a number", where=name) from None
    if value <= 0:
        raise DeployVerifyError(f"{name} is {raw!r}; give a positive number", where=name)
    return value


def configured_module_timeout_s() -> float:
    return _env_number("DV_PROBE_MODULE_TIMEOUT_S", MODULE_TIMEOUT_S)


def configured_module_memory_mb() -> float:
    return _env_number("DV_PROBE_MODULE_MEMORY_MB", MODULE_MEMORY_MB)
_SKIP_PARTS = frozenset({"tests", "test", "_tests", "__main__", "conftest"})
# Environment the container runtime adds that Lambda does not have; the probe removes them before user code runs.
_NOT_IN_LAMBDA = ("HOME", "HOSTNAME")
# Lambda always gives the function its execution role's credentials. Offline, the probe gives obviously fake ones
# (never the host's): code that builds a client at import works as in Lambda, and a call it makes fails at the
# network, which the probe reports as "needs AWS at import" with the call site. One attempt: botocore would
# otherwise retry an unreachable endpoint with backoff, for seconds per module.
OFFLINE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "ASIADEPLOYVERIFYFAKE",
    "AWS_SECRET_ACCESS_KEY": "deployverify-placeholder-not-a-secret",
    "AWS_SESSION_TOKEN": "deployverify-placeholder-session-token",
    "AWS_MAX_ATTEMPTS": "1",
}


@dataclass
class ProbeOutcome:
    isolation: str                     # "docker", "bubblewrap", "plain"
    described: str                     # the sandbox in words
    reason: str                        # why that sandbox
    fallback: bool
    image: str
    report: dict[str, Any] | None = None
    error: str | None = None           # the probe produced no report: why
    seconds: float = 0.0
    stderr_tail: str = ""
    cached: bool = False
    skipped: list[str] = field(default_factory=list)
    probe_id: str = field(default_factory=lambda: secrets.token_hex(4))  # one per real probe run, kept in the cache

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeOutcome:
        return cls(**data)

    @property
    def handlers(self) -> list[dict[str, Any]]:
        return list((self.report or {}).get("handlers", []))

    @property
    def modules(self) -> dict[str, dict[str, Any]]:
        return dict((self.report or {}).get("modules", {}))


def skip_reason(name: str) -> str | None:
    """Modules the probe does not import: test suites and `__main__` scripts are not imported at run time, and
    importing them runs test scaffolding or a command line. A top-level `setup` is a packaging script."""
    parts = name.split(".")
    hit = _SKIP_PARTS.intersection(parts)
    if hit:
        return f"{sorted(hit)[0]} module"
    if name == "setup":
        return "packaging script"
    return None


def modules_to_probe(index: BundleIndex) -> tuple[list[dict[str, Any]], list[str]]:
    chosen: list[dict[str, Any]] = []
    skipped: list[str] = []
    for name in sorted(index.modules):
        if skip_reason(name):
            skipped.append(name)
            continue
        chosen.append({"name": name, "first_party": index.modules[name].first_party})
    return chosen, skipped


def path_config(runtime: str) -> tuple[list[str], list[str], list[str]]:
    """sys.path before and after the stdlib, and the site dirs, with sandbox placeholders."""
    info = runtime_info(runtime)
    site = f"/var/lang/lib/python{info.python}/site-packages"

    def place(entry: str) -> str:
        return (entry.replace(TASK_ROOT, "{task}").replace("/opt", "{opt}").replace(site, "{site}")
                .replace(RUNTIME_DIR, "{runtime}"))

    entries = info.sys_path()
    stdlib = set(info.stdlib_paths())
    first_stdlib = min(i for i, e in enumerate(entries) if e in stdlib)
    front = [place(e) for e in entries[:first_stdlib]]
    back = [place(e) for e in entries[first_stdlib:] if e not in stdlib]
    site_dirs = [place(e) for e in info.search_roots()]
    return front, back, site_dirs


def fingerprint(folders: Iterable[Path]) -> str:
    """Cheap content key: every file's relative path, size and mtime."""
    digest = hashlib.sha256()
    for folder in folders:
        digest.update(str(folder.resolve()).encode())
        for here, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(here, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                digest.update(f"{os.path.relpath(path, folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _sandbox_identity(selection: Selection) -> str:
    if selection.kind == "docker":
        from deployverify.lambda_image.docker import image_id

        return f"docker:{image_id(selection.image) or selection.image}"
    return f"{selection.kind}:{selection.sandbox.describe()}"


def probe_spec(target: Target, bundle: Path, layers: tuple[Path, ...], tools: Path, modules_file: str,
               workers: int, module_timeout_s: float | None = None,
               aws_env: Mapping[str, str] | None = None) -> Spec:
    """aws_env: credentials (and region) for a probe the target lets reach AWS; None keeps it offline.
    module_timeout_s: None takes DV_PROBE_MODULE_TIMEOUT_S (default MODULE_TIMEOUT_S)."""
    first = target.functions[0]
    front, back, site_dirs = path_config(target.runtime)
    env = lambda_environment(target.runtime, first.handler, function_name=first.function_name or first.name,
                             memory_mb=first.memory_mb, region=target.region, user_env=first.environment)
    env = {**env, **(OFFLINE_AWS_ENV if aws_env is None else aws_env),
           "LAMBDA_TASK_ROOT": "{task}", "LAMBDA_RUNTIME_DIR": "{runtime}", "PYTHONPATH": "{runtime}"}
    config = {
        "task_root": "{task}",
        "path_front": front,
        "path_back": back,
        "site_dirs": site_dirs,
        "unset_env": list(_NOT_IN_LAMBDA),
        # A script run through an exec wrapper is not imported by Lambda, so the probe does not import it either.
        "handlers": [f.handler for f in target.functions if not is_wrapper_script(f.handler, f.environment)],
        "modules_file": "{tools}/" + modules_file,
        "workers": workers,
        "handler_timeout_s": HANDLER_TIMEOUT_S,
        "module_timeout_s": module_timeout_s if module_timeout_s is not None else configured_module_timeout_s(),
        "module_memory_mb": configured_module_memory_mb(),
    }
    # -I: no user site, no PYTHON* variables; -S: no site-packages of the interpreter (the probe lays out sys.path
    # as Lambda does); -B: the bundle is read-only, as in Lambda, so no .pyc is written.
    argv = ("{python}", "-I", "-S", "-B", "{tools}/probe.py", json.dumps(config))
    return Spec(argv=argv, bundle=bundle, layers=layers, tools=tools, env=env,
                network="none" if aws_env is None else "host",
                memory_mb=PROBE_MEMORY_MB, name="deployverify-probe")


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def run_probe(target: Target, bundle: Path, layers: tuple[Path, ...], selection: Selection, *,
              workers: int | None = None, timeout_s: float = PROBE_TIMEOUT_S,
              module_timeout_s: float | None = None, aws_env: Mapping[str, str] | None = None) -> ProbeOutcome:
    index = BundleIndex.from_bundle(bundle, layers)
    modules, skipped = modules_to_probe(index)
    outcome = ProbeOutcome(isolation=selection.kind, described=selection.sandbox.describe(), reason=selection.reason,
                           fallback=selection.fallback, image=selection.image, skipped=skipped)
    tools = scratch_dir("probe-tools")
    try:
        shutil.copy2(PROBE_SOURCE, tools / "probe.py")
        for sibling in PROBE_SIBLINGS:
            shutil.copy2(sibling, tools / sibling.name)
        (tools / "modules.json").write_text(json.dumps(modules))
        os.chmod(tools, 0o755)  # noqa: S103 - Lambda's uid inside the sandbox must read the probe
        for item in tools.iterdir():
            os.chmod(item, 0o644)
        spec = probe_spec(target, bundle, layers, tools, "modules.json", workers or default_workers(),
                          module_timeout_s, aws_env)
        done = selection.sandbox.run(spec, timeout_s)
    finally:
        shutil.rmtree(tools, ignore_errors=True)
    outcome.seconds = round(done.seconds, 3)
    stdout = done.stdout.decode("utf-8", errors="replace")
    outcome.stderr_tail = "\n".join(done.stderr.decode("utf-8", errors="replace").strip().splitlines()[-15:])
    if MARK in stdout:
        try:
            outcome.report = json.loads(stdout.split(MARK, 1)[1].strip().splitlines()[0])
        except (ValueError, IndexError) as exc:
            outcome.error = f"the probe's report is not JSON ({exc})"
    elif done.timed_out:
        outcome.error = f"the probe did not finish in {timeout_s:.0f}s"
    else:
        outcome.error = f"the probe exited {done.code} without a report; stderr ends: {outcome.stderr_tail[-600:]}"
    return outcome


def cached_probe(target: Target, bundle: Path, layers: tuple[Path, ...], selection: Selection,
                 cache_dir: Path, aws_env: Mapping[str, str] | None = None) -> ProbeOutcome:
    """run_probe once per (bundle state, layers, probe, runtime, handlers, sandbox); concurrent callers share it.

    A probe that reaches AWS (aws_env) is never remembered: what it called may answer differently next time."""
    if aws_env is not None:
        say(f"importing every module of the bundle in {selection.summary()}, with access to AWS")
        return run_probe(target, bundle, layers, selection, aws_env=aws_env)
    probe_code = b"".join(path.read_bytes() for path in (PROBE_SOURCE, *PROBE_SIBLINGS))
    key_parts = [fingerprint((bundle, *layers)), hashlib.sha256(probe_code).hexdigest(),
                 json.dumps(OFFLINE_AWS_ENV, sort_keys=True),
                 target.runtime, json.dumps([f.handler for f in target.functions]),
                 json.dumps([f.environment for f in target.functions], sort_keys=True), _sandbox_identity(selection),
                 f"limits {configured_module_timeout_s()} s {configured_module_memory_mb()} MB"]
    key = hashlib.sha256("\n".join(key_parts).encode()).hexdigest()[:32]
    folder = cache_dir / "probe"
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{key}.json"
    with FileLock(str(folder / f"{key}.lock"), timeout=PROBE_TIMEOUT_S + 60):
        if stored.exists():
            try:
                outcome = ProbeOutcome.from_dict(json.loads(stored.read_text()))
                outcome.cached = True
                return outcome
            except (ValueError, TypeError):
                stored.unlink(missing_ok=True)
        started = time.perf_counter()
        say(f"importing every module of the bundle in {selection.summary()}")
        outcome = run_probe(target, bundle, layers, selection)
        outcome.seconds = round(time.perf_counter() - started, 3)
        if outcome.report is not None:  # a failed probe run is retried next time, not remembered
            stored.write_text(json.dumps(outcome.to_dict()))
    return outcome
