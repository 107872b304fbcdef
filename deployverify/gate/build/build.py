"""Build the bundle the target describes, once per input state.

Three ways: the target's `bundle.command`, `sam build` for `bundle.sam` (writing .aws-sam/build/<Function>), or the
built-in aws-lambda-builders build (builtin.py) when the target names only `bundle.source` and
`bundle.requirements`. A prebuilt `bundle.output` is used as it is.

Each way runs through cached.py, which skips a build whose inputs did not change. Functions built from one SAM
template share one `sam build` of it; sam_template.py runs it, and builds each function alone when it fails. A
python_pip function on a runtime this host has no interpreter of (python3.13 on a 3.11 runner) is left out of that
`sam build`, which would fail for want of it, and cross-built instead (sam_cross.py), after sam's share: `sam build`
empties its build folder, which holds the cross-built folders too.
"""

from __future__ import annotations

import json
import shlex
from contextlib import suppress
from pathlib import Path

from deployverify.core.errors import BuildError, BundleError, DeployVerifyError
from deployverify.gate.build.builtin import build_with_lambda_builders
from deployverify.gate.build.cached import BuiltBundle, cached_build, stamp_files
from deployverify.gate.build.cross import missing_interpreter_of
from deployverify.gate.build.run import run_build
from deployverify.gate.build.sam_cross import cross_build_sam_function, cross_built_up_front
from deployverify.gate.build.sam_template import build_template
from deployverify.sam.application import load_application
from deployverify.target.model import Target


def _built_together(target: Target, application: Target | None) -> list[str]:
    """The functions of `target`'s SAM template that one `sam build` builds: every one the application checks."""
    sam = target.bundle.sam
    if sam is None:
        return []
    application = application or target
    bundles = (application.bundle_of(f) for f in application.functions)
    return sorted({b.sam.function for b in bundles if b.sam is not None and b.sam.template == sam.template}
                  | {sam.function})


def _sam_shares(target: Target, application: Target | None) -> tuple[list[str], list[str]]:
    """The functions of `target`'s SAM template the run checks, split: those one `sam build` builds, and those
    cross-built up front because sam would need an interpreter this host lacks (sam_cross.py)."""
    building = _built_together(target, application)
    if target.bundle.sam is None:
        return building, []
    cross = cross_built_up_front(target.bundle.sam.template, building)
    return [f for f in building if f not in cross], cross


def build_command(target: Target, application: Target | None = None) -> list[str] | None:
    """The command that builds `target.bundle`. `application` is the whole target file: when several of its
    functions are built from one SAM template, the command builds the whole template, once for all of them
    (`sam build` empties its build folder first, so one function at a time would delete the others' code)."""
    return _command(target, _sam_shares(target, application)[0])


def _command(target: Target, by_sam: list[str]) -> list[str] | None:
    """build_command, given the template's functions `sam build` builds (reading the template is the costly part)."""
    bundle = target.bundle
    if bundle.command:
        return ["bash", "-c", bundle.command]
    if bundle.sam:
        # sam writes <build-dir>/<Function>; naming the build dir makes that the target's bundle.output wherever
        # the command runs from (sam's default, .aws-sam/build, is relative to the working folder).
        command = ["sam", "build", "--template-file", str(bundle.sam.template), "--build-dir",
                   str(bundle.output.parent)]
        if len(by_sam) > 1:
            return [*command, *(arg for other in _not_built(bundle.sam.template, by_sam) for arg in ("-x", other))]
        return [*command, *(by_sam or [bundle.sam.function])]
    return None


def _not_built(template: Path, building: list[str]) -> list[str]:
    """The template's functions the target does not check (image functions, other languages, functions left out):
    excluded from the whole-template build, which would otherwise need Docker, npm or whatever they are built with.
    An unreadable template excludes nothing: `sam build` then reports what is wrong with it."""
    try:
        app = load_application(template)
    except DeployVerifyError:
        return []
    others = [f.logical_id for f in app.functions if f.logical_id not in building]
    return sorted(others + [n.logical_id for n in app.not_applicable])


def ensure_built(target: Target, cache_root: Path, application: Target | None = None, run_id: str = "") -> BuiltBundle:
    """Build `target.bundle` unless its inputs are unchanged; `application` (the whole target file) lets functions
    built from one SAM template share one `sam build`, and `run_id` lets them share what it found when it failed
    (sam_template.py)."""
    bundle = target.bundle
    if bundle.prebuilt:
        if not bundle.output.is_dir():
            raise BundleError("bundle folder does not exist", where=str(bundle.output))
        return BuiltBundle(bundle.output, bundle.layers, "prebuilt", 0.0)
    by_sam, cross = _sam_shares(target, application)  # once: each call reads the SAM template
    command = _command(target, by_sam)
    if command is None:
        return build_with_lambda_builders(target, cache_root)
    if bundle.sam is not None and bundle.sam.function in cross:
        return _cross_build_after_sam(target, cache_root, application, run_id, by_sam)
    try:
        return _build_with_command(target, cache_root, command, application, run_id, by_sam)
    except BuildError as error:
        missing = missing_interpreter_of(error)
        if missing is None or bundle.sam is None:
            raise
        # Failing for want of an interpreter says nothing about the code: build what sam would have, with pip told
        # the platform (sam_cross.py), rather than fail every python3.13 app on a host without python3.13.
        return cross_build_sam_function(target, cache_root, missing, error)


def _cross_build_after_sam(target: Target, cache_root: Path, application: Target | None, run_id: str,
                           by_sam: list[str]) -> BuiltBundle:
    """`target`'s function cross-built in sam's place, once the template's share built by sam is current."""
    assert target.bundle.sam is not None
    share = _target_of(application or target, target.bundle.sam.template, by_sam[0]) if by_sam else None
    if share is not None:
        # `sam build` empties its build folder: building its share first keeps it from deleting what is cross-built.
        # Its outcome is its functions' own (their DV101), found once for the run (sam_template.py).
        with suppress(BuildError):
            ensure_built(share, cache_root, application, run_id)
    # The template's lock keeps a `sam build` of it (another xdist worker's) from emptying the folder meanwhile.
    lock, _ = stamp_files(cache_root, target.bundle.output.parent)
    with lock:
        return cross_build_sam_function(target, cache_root, target.runtime)


def _target_of(application: Target, template: Path, function: str) -> Target | None:
    """The application's target of one SAM function of `template`: the first of the functions built from it."""
    for checked in application.functions:
        sam = application.bundle_of(checked).sam
        if sam is not None and sam.template == template and sam.function == function:
            return application.for_function(checked.name)
    return None


def _build_with_command(target: Target, cache_root: Path, command: list[str], application: Target | None,
                        run_id: str, by_sam: list[str]) -> BuiltBundle:
    bundle = target.bundle
    cwd = bundle.cwd or target.base_dir
    if len(_built_together(target, application)) > 1:
        return build_template(target, cache_root, command, by_sam, cwd, run_id)
    # Every build of one template shares the build folder's stamp: a `sam build` of one function empties the folder
    # too, so it makes any other build of that folder stale.
    stamp_of = bundle.output.parent if bundle.sam else bundle.output
    return cached_build(target, cache_root, json.dumps(command), shlex.join(command),
                        lambda: run_build(command, cwd, bundle.output), stamp_of=stamp_of)
