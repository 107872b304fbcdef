"""Build the functions of one SAM template with one `sam build`, and when that fails, find which of them fail.

`sam build` empties its build folder first, so the functions a run checks from one template share one build of the
whole template (build.py's command). One function that does not build (a requirement no index has, a broken
Makefile) then fails that build for all of them. So when it fails, each function is built alone, into its own scratch
build folder in the cache (so that no build empties another's), and each one that builds is moved, with the layers it
built, to where the target expects it (<build-dir>/<LogicalId>). Each function gets its own outcome: a broken one fails
DV101 with sam's own lines about it, the others are checked as usual. The happy path stays one `sam build`.

The template's stamp (cached.py) records a shared build that succeeded; only that is reused by later runs. The
outcomes of a failed shared build are recorded with the run's id and read back by that run alone (its other functions
and xdist workers): the next run builds again, as after any failed build (an index that was down may be back), and
never takes the folders a failed build left for a whole template's build.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from deployverify.core.errors import BuildError, DeployVerifyError
from deployverify.core.progress import say
from deployverify.gate.build.cached import BuiltBundle, input_hash, read_stamp, stamp_files
from deployverify.gate.build.cross import host_interpreter, missing_interpreter_of
from deployverify.gate.build.run import run_build
from deployverify.sam.application import load_application
from deployverify.target.model import Target

# A shared build that never ran (`sam` not installed: 127) or ran out of time (-9) would fail the same way for each
# function alone, the timeout once per function: such a failure is every function's, without building them alone.
# So would one that found no interpreter of a runtime, for the functions on runtimes the host lacks (build.py then
# cross-builds them).
_NOT_PER_FUNCTION = (127, -9)


def build_template(target: Target, cache_root: Path, command: list[str], functions: list[str], cwd: Path,
                   run_id: str) -> BuiltBundle:
    """`target`'s function built by the shared `command` (`sam build` of the template's `functions` the run checks),
    or, when that fails, by its own `sam build`. Raises BuildError when the function does not build."""
    bundle = target.bundle
    if bundle.sam is None:
        raise ValueError("build_template builds bundles made by `sam build`")
    started = time.perf_counter()
    how = shlex.join(command)
    build_dir = bundle.output.parent
    lock, stamp = stamp_files(cache_root, build_dir)
    with lock:
        wanted = input_hash(bundle, json.dumps(command))
        if read_stamp(stamp).get("hash") == wanted and bundle.output.is_dir():
            return BuiltBundle(bundle.output, bundle.layers, "cached", time.perf_counter() - started)
        outcomes = _this_runs_outcomes(stamp, run_id, wanted)
        if bundle.sam.function not in outcomes.get("built", []) + list(outcomes.get("failed", {})):
            stamp.unlink(missing_ok=True)
            say(f"building the bundle: `{how}` (its inputs changed since the last build)")
            try:
                tail = run_build(command, cwd, bundle.output)
            except BuildError as shared:
                outcomes = _each_alone(bundle.sam.template, sorted(functions), cwd, build_dir, shared, stamp)
                stamp.write_text(json.dumps({"hash": wanted, "run": run_id, **outcomes}))
                return _own_outcome(target, outcomes, _alone(bundle.sam.template, bundle.sam.function), started)
            if not bundle.output.is_dir():
                raise BuildError(f"`{how}` succeeded but wrote no bundle at {bundle.output}", command=how, code=0,
                                 tail=f"no bundle at {bundle.output}; check the function's logical id")
            stamp.write_text(json.dumps({"hash": wanted, "output": str(bundle.output)}))
            return BuiltBundle(bundle.output, bundle.layers, how, time.perf_counter() - started, tail)
    return _own_outcome(target, outcomes, "cached", started)


def _this_runs_outcomes(stamp: Path, run_id: str, wanted: str) -> dict[str, Any]:
    """The functions' outcomes this run recorded after the shared build failed, for the same inputs; else {}."""
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return {}
    if not (run_id and isinstance(recorded, dict) and recorded.get("run") == run_id and recorded.get("hash") == wanted):
        return {}
    return recorded


def _alone(template: Path, function: str) -> str:
    """How a user builds one function alone: the command DV101 quotes (without the cache's scratch folder)."""
    return shlex.join(["sam", "build", "--template-file", str(template), function])


def _each_alone(template: Path, functions: list[str], cwd: Path, build_dir: Path, shared: BuildError,
                stamp: Path) -> dict[str, Any]:
    """Build each function alone; move the ones that build (and their layers) into `build_dir`. Returns
    {"built": [function], "failed": {function: its BuildError's fields}}."""
    if shared.code in _NOT_PER_FUNCTION or len(functions) == 1:
        # A shared build of one function (the others cross-built, build.py) was that function's build alone.
        return {"built": [], "failed": {function: _fields(shared) for function in functions}}
    failed: dict[str, dict[str, Any]] = {}
    if missing_interpreter_of(shared):
        # Only a function whose runtime this host has an interpreter of can build alone (a python3.11 one beside the
        # python3.13 one that failed the shared build); the others would fail the same way, once each.
        runnable = _runtime_on_host(template, functions)
        failed = {function: _fields(shared) for function in functions if function not in runnable}
        functions = runnable
        if not functions:
            return {"built": [], "failed": failed}
    say(f"the shared build failed ({shared.cause}); building each function alone to find which of the {len(functions)} "
        "do not build")
    built: list[str] = []
    # The caller holds the template's lock, so a scratch folder already here is a killed run's (SIGKILL skips the
    # clean-up below): it goes before this run adds its own.
    for stale in stamp.parent.glob(f"{stamp.stem}-alone-*"):
        shutil.rmtree(stale, ignore_errors=True)
    # In the cache beside the stamp, and removed even if a build is interrupted.
    with tempfile.TemporaryDirectory(dir=stamp.parent, prefix=f"{stamp.stem}-alone-") as scratch:
        for function in functions:
            own = Path(scratch) / function
            command = ["sam", "build", "--template-file", str(template), "--build-dir", str(own), function]
            try:
                run_build(command, cwd, own / function, shown=_alone(template, function))
            except BuildError as exc:
                failed[function] = _fields(exc)
                # What the failed shared build left of it must not look like its bundle.
                shutil.rmtree(build_dir / function, ignore_errors=True)
                continue
            _move_folders(own, build_dir)
            built.append(function)
    return {"built": built, "failed": failed}


def _runtime_on_host(template: Path, functions: list[str]) -> list[str]:
    """The `functions` whose runtime has an interpreter on this host; none when the template cannot be read."""
    try:
        app = load_application(template)
    except DeployVerifyError:
        return []
    runtimes = {f.logical_id: f.runtime for f in app.functions}
    return [f for f in functions if f in runtimes and host_interpreter(runtimes[f]) is not None]


def _move_folders(own: Path, build_dir: Path) -> None:
    """The function's folder and its layers' folders, each replacing the one in `build_dir`. The one-function
    template.yaml sam writes beside them is left behind: it does not describe the application."""
    build_dir.mkdir(parents=True, exist_ok=True)
    for folder in sorted(p for p in own.iterdir() if p.is_dir()):
        shutil.rmtree(build_dir / folder.name, ignore_errors=True)
        shutil.move(str(folder), str(build_dir / folder.name))


def _fields(error: BuildError) -> dict[str, Any]:
    return {"message": str(error), "command": error.command, "code": error.code, "tail": error.tail,
            "cause": error.cause}


def _own_outcome(target: Target, outcomes: dict[str, Any], how: str, started: float) -> BuiltBundle:
    bundle = target.bundle
    function = bundle.sam.function if bundle.sam else ""
    if function in outcomes.get("failed", {}):
        raise BuildError(**outcomes["failed"][function])
    if not bundle.output.is_dir():  # built, then removed by something else while the run goes on
        raise BuildError(f"the bundle built for {function} is gone from {bundle.output}", command=how, code=0,
                         tail=f"no bundle at {bundle.output}; run the gate again to rebuild it")
    return BuiltBundle(bundle.output, bundle.layers, how, time.perf_counter() - started)
