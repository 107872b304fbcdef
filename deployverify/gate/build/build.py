"""Build the bundle the target describes, once per input state.

Three ways: the target's `bundle.command`, `sam build` for `bundle.sam` (writing .aws-sam/build/<Function>), or the
built-in aws-lambda-builders build (builtin.py) when the target names only `bundle.source` and
`bundle.requirements`. A prebuilt `bundle.output` is used as it is.

Each way runs through cached.py, which skips a build whose inputs did not change.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

from deployverify.core.errors import BuildError, BundleError, DeployVerifyError
from deployverify.core.redact import redact
from deployverify.gate.build.builtin import build_with_lambda_builders
from deployverify.gate.build.cached import BUILD_TIMEOUT_S, BuiltBundle, cached_build
from deployverify.gate.build.cross import sam_missing_interpreter, sam_missing_interpreter_advice
from deployverify.sam.application import load_application
from deployverify.target.model import Target


def _sam_functions(application: Target, template: Path) -> set[str]:
    bundles = (application.bundle_of(f) for f in application.functions)
    return {b.sam.function for b in bundles if b.sam is not None and b.sam.template == template}


def build_command(target: Target, application: Target | None = None) -> list[str] | None:
    """The command that builds `target.bundle`. `application` is the whole target file: when several of its
    functions are built from one SAM template, the command builds the whole template, once for all of them
    (`sam build` empties its build folder first, so one function at a time would delete the others' code)."""
    bundle = target.bundle
    if bundle.command:
        return ["bash", "-c", bundle.command]
    if bundle.sam:
        # sam writes <build-dir>/<Function>; naming the build dir makes that the target's bundle.output wherever
        # the command runs from (sam's default, .aws-sam/build, is relative to the working folder).
        command = ["sam", "build", "--template-file", str(bundle.sam.template), "--build-dir",
                   str(bundle.output.parent)]
        building = _sam_functions(application or target, bundle.sam.template) | {bundle.sam.function}
        if len(building) > 1:
            return [*command, *(arg for other in _not_built(bundle.sam.template, building) for arg in ("-x", other))]
        return [*command, bundle.sam.function]
    return None


def _not_built(template: Path, building: set[str]) -> list[str]:
    """The template's functions the target does not check (image functions, other languages, functions left out):
    excluded from the whole-template build, which would otherwise need Docker, npm or whatever they are built with.
    An unreadable template excludes nothing: `sam build` then reports what is wrong with it."""
    try:
        app = load_application(template)
    except DeployVerifyError:
        return []
    others = [f.logical_id for f in app.functions if f.logical_id not in building]
    return sorted(others + [n.logical_id for n in app.not_applicable])


# What to install when a build program is missing, so the error says more than "not found".
_INSTALL_HINTS = {
    "sam": "install the AWS SAM CLI (`pip install aws-sam-cli`, or see https://docs.aws.amazon.com/serverless-"
           "application-model/latest/developerguide/install-sam-cli.html), or build with bundle.command instead",
    "bash": "install bash",
}


def ensure_built(target: Target, cache_root: Path, application: Target | None = None) -> BuiltBundle:
    """Build `target.bundle` unless its inputs are unchanged; `application` (the whole target file) lets functions
    built from one SAM template share one `sam build`."""
    bundle = target.bundle
    if bundle.prebuilt:
        if not bundle.output.is_dir():
            raise BundleError("bundle folder does not exist", where=str(bundle.output))
        return BuiltBundle(bundle.output, bundle.layers, "prebuilt", 0.0)
    command = build_command(target, application)
    if command is None:
        return build_with_lambda_builders(target, cache_root)
    cwd = bundle.cwd or target.base_dir
    # Every function of one template shares the build folder's stamp: the first builds, the others find it current.
    stamp_of = bundle.output.parent if bundle.sam else bundle.output
    return cached_build(target, cache_root, json.dumps(command), shlex.join(command),
                        lambda: run_build(command, cwd, bundle.output), stamp_of=stamp_of)


def run_build(command: list[str], cwd: Path, output: Path) -> str:
    # SAM would otherwise send telemetry, a network call the gate must not make.
    env = {**os.environ, "DV_BUNDLE_OUTPUT": str(output), "SAM_CLI_TELEMETRY": "0"}
    shown = shlex.join(command)
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                              check=False)
    except FileNotFoundError:
        hint = _INSTALL_HINTS.get(command[0], f"install `{command[0]}` or fix the build definition")
        raise BuildError(f"`{command[0]}` is not installed (needed for `{shown}`): {hint}", command=shown, code=127,
                         tail=f"{command[0]}: command not found; {hint}") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"`{shown}` did not finish in {BUILD_TIMEOUT_S}s", command=shown, code=-9,
                         tail=f"killed after {BUILD_TIMEOUT_S}s") from None
    tail = redact("\n".join((done.stderr or done.stdout).strip().splitlines()[-15:]))
    missing_runtime = sam_missing_interpreter(f"{done.stdout}\n{done.stderr}") if done.returncode else None
    if missing_runtime:
        # The cause is the host, not the code: say so on the last line, which is the line DV101 quotes.
        tail = f"{tail}\n{sam_missing_interpreter_advice(missing_runtime)}"
    if done.returncode != 0:
        last = tail.splitlines()[-1] if tail else "(no output)"
        raise BuildError(f"`{shown}` exited {done.returncode}: {last}\nits output ends:\n{tail}",
                         command=shown, code=done.returncode, tail=tail)
    return tail
