"""DV1xx: the bundle builds, holds the handler's file, and fits Lambda's limits."""

from __future__ import annotations

from typing import Any

from deployverify import check as dv
from deployverify import registry
from deployverify.bundle.build import BuiltBundle
from deployverify.check import check
from deployverify.errors import BuildError
from deployverify.handler import parse_handler
from deployverify.target import Target


@check("DV101")
def test_bundle_builds(build_outcome: Any) -> None:
    """The target's build (its command, `sam build`, or the built-in pip build) succeeds and leaves a bundle.

    The build is cached by a hash of its inputs; a failure quotes the command and the tail of its stderr.
    """
    if isinstance(build_outcome, BuildError):
        dv.fail(registry.message("DV101", command=build_outcome.command or "build", code=build_outcome.code,
                                 tail=(build_outcome.tail.splitlines() or ["(no output)"])[-1]),
                evidence=[str(build_outcome)])
    if isinstance(build_outcome, Exception):
        dv.fail(str(build_outcome))
    dv.evidence(f"bundle: {build_outcome.path} ({build_outcome.how}, {build_outcome.seconds:.1f}s)")


@check("DV102")
def test_handler_file_in_bundle(target: Target, built_bundle: BuiltBundle) -> None:
    """Each function's handler module exists as a file in the bundle (or a layer), where Lambda will look for it."""
    for function in target.functions:
        handler = parse_handler(function.handler)
        roots = (built_bundle.path, *(layer / "python" for layer in built_bundle.layers))
        candidates = handler.candidate_files()
        if any((root / c).is_file() for root in roots for c in candidates):
            continue
        stem = candidates[0].name
        near = sorted(str(p.relative_to(built_bundle.path)) for p in built_bundle.path.rglob(stem))[:3]
        hint = f" (found {', '.join(near)}: the handler path must be relative to the bundle root)" if near else ""
        dv.fail(registry.message("DV102", handler=function.handler, expected=str(candidates[0]), hint=hint))
