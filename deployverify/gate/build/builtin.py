"""The built-in build, for a target that names only `bundle.source` and `bundle.requirements`.

It runs aws-lambda-builders' python_pip workflow, the library `sam build` itself runs: pip downloads wheels for the
Lambda platform (manylinux for the runtime's glibc, the runtime's CPython ABI, the function's architecture) into
bundle.output, then the source folder is copied on top. No SAM CLI and no template are needed. Like the command build
it is cached by a hash of its inputs (cached.cached_build).

pip runs under an interpreter of the runtime's Python version, found on PATH or next to this one; aws-lambda-builders
refuses any other, because pip would pick wheels for the wrong CPython. When the host has no such interpreter, or
runs another architecture, the build is a cross-build instead (cross.py: pip told the platform, wheels only).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from deployverify.core.errors import BuildError, BundleError, telling_line
from deployverify.core.progress import say
from deployverify.core.redact import redact
from deployverify.gate.build.cached import BuiltBundle, cached_build
from deployverify.gate.build.cross import cross_build, cross_build_reason
from deployverify.target.model import Target

_LOGGER = "aws_lambda_builders"


class _Tail(logging.Handler):
    """Keeps the builder's last log lines for the error message."""

    def __init__(self, keep: int = 15) -> None:
        super().__init__(logging.INFO)
        self.keep = keep
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines = [*self.lines, *record.getMessage().splitlines()][-self.keep:]


def describe(target: Target) -> str:
    bundle = target.bundle
    requirements = f" + {bundle.requirements.name}" if bundle.requirements else ""
    way = "pip cross-install" if cross_build_reason(target.runtime, target.architecture) else \
        "aws-lambda-builders python_pip"
    return (f"{way} ({target.runtime}, {target.architecture}): "
            f"{bundle.source}{requirements} -> {bundle.output}")


def _check_output_is_safe(target: Target) -> None:
    """bundle.output is emptied before each build: it must not hold the sources or the target file."""
    bundle = target.bundle
    output = bundle.output.resolve()
    precious = [p.resolve() for p in (bundle.source, bundle.requirements, target.source_path, Path.home()) if p]
    for path in precious:
        if path == output or path.is_relative_to(output):
            raise BundleError(f"bundle.output {output} contains {path}, and the built-in build empties it first; "
                              "choose a separate folder such as build/bundle", where="bundle.output")


def build_with_lambda_builders(target: Target, cache_root: Path) -> BuiltBundle:
    bundle = target.bundle
    if bundle.source is None:
        raise BundleError("the built-in build needs bundle.source (the folder of the function's code)",
                          where="bundle.source")
    _check_output_is_safe(target)
    definition = json.dumps({"builder": "aws_lambda_builders.python_pip", "runtime": target.runtime,
                             "architecture": target.architecture, "source": str(bundle.source),
                             "requirements": str(bundle.requirements)})
    # Only the source and the requirements are inputs: unlike a build command, nothing else is read.
    roots = bundle.inputs or tuple(p for p in (bundle.source, bundle.requirements) if p)
    return cached_build(target, cache_root, definition, describe(target), lambda: _build(target, cache_root), roots)


def _build(target: Target, cache_root: Path) -> str:
    from aws_lambda_builders.builder import LambdaBuilder
    from aws_lambda_builders.exceptions import LambdaBuilderError

    bundle = target.bundle
    assert bundle.source is not None
    manifest = bundle.requirements or bundle.source / "requirements.txt"  # absent: the workflow only copies source
    shutil.rmtree(bundle.output, ignore_errors=True)
    bundle.output.mkdir(parents=True)
    reason = cross_build_reason(target.runtime, target.architecture)
    if reason is not None:
        say(f"cross-building {bundle.source.name} for {target.runtime} {target.architecture}: {reason}")
        try:
            return cross_build(bundle.source, manifest, bundle.output, target.runtime, target.architecture)
        except BuildError:
            shutil.rmtree(bundle.output, ignore_errors=True)
            raise
    (cache_root / "scratch").mkdir(parents=True, exist_ok=True)
    tail = _Tail()
    logger = logging.getLogger(_LOGGER)
    logger.addHandler(tail)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with tempfile.TemporaryDirectory(prefix="dv-build-", dir=cache_root / "scratch") as scratch:
            LambdaBuilder(language="python", dependency_manager="pip", application_framework=None).build(
                str(bundle.source), str(bundle.output), scratch, str(manifest), runtime=target.runtime,
                architecture=target.architecture, executable_search_paths=[str(Path(sys.executable).parent)])
    except LambdaBuilderError as exc:
        shutil.rmtree(bundle.output, ignore_errors=True)
        reason = str(exc)
        if "does not match runtime" in reason or ("not found" in reason.lower() and "python" in reason.lower()):
            reason += (f"; the built-in build runs pip under a {target.runtime} interpreter: put one on PATH, or "
                       "build with bundle.command or bundle.sam")
        lines = redact("\n".join([*tail.lines, *reason.splitlines()][-15:]))
        raise BuildError(f"`{describe(target)}` failed; its output ends:\n{lines}", command=describe(target),
                         code=1, tail=lines, cause=telling_line(redact(reason))) from None
    finally:
        logger.removeHandler(tail)
        logger.setLevel(level)
    return redact("\n".join(tail.lines))
