"""Cross-build a `bundle.sam` function whose `sam build` failed only because this host has no interpreter of the
runtime (python3.13 on a 3.11 CI runner: aws-lambda-builders refuses to run pip under any other CPython).

What `sam build` would have run for a python_pip function is pip into <build-dir>/<Function> and the CodeUri copied on
top; for a layer with `BuildMethod: python3.x`, the same into <build-dir>/<Layer>/python. cross.py does that with pip
told the platform (wheels only), so the function lands where the target's `bundle.output` and `bundle.layers` already
point, and every later check reads it as if sam had built it. DV101 then passes with a warning that says so: pip told
the platform is not `sam build`, so the two may differ (a dependency with only an sdist, which sam would compile).

Only python_pip builds are replaced. A function or layer built by a Makefile, esbuild or any other BuildMethod runs
its own commands, which the gate cannot imitate: it keeps failing DV101, with advice that says why.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from deployverify.core.errors import BuildError, DeployVerifyError
from deployverify.core.progress import say
from deployverify.core.results import Finding, Severity
from deployverify.gate.build.cached import BuiltBundle, CrossBuilt, input_hash, read_stamp, stamp_files
from deployverify.gate.build.cross import cross_build, pip_platform_args, platform_tags
from deployverify.lambda_image.runtimes import runtime_info
from deployverify.sam.application import load_application
from deployverify.sam.model import SamLayer
from deployverify.target.model import Bundle, Target

# A function without BuildMethod is built by python_pip; a BuildMethod naming a Python runtime is the same builder.
_PIP_BUILD_METHOD = re.compile(r"python3\.\d+")


def _pip_built(build_method: str | None) -> bool:
    return build_method is None or bool(_PIP_BUILD_METHOD.fullmatch(build_method))


def cross_build_sam_function(target: Target, cache_root: Path, missing: str, error: BuildError) -> BuiltBundle:
    """`target`'s SAM function and the layers sam builds for it, cross-built into the target's build folder.

    `error` is the failed `sam build` (for want of a `missing` interpreter): raised again when the template cannot be
    read back, and turned into advice naming the build method when the function or a layer is not a python_pip build.
    A dependency without a wheel for the platform raises cross.MissingWheel."""
    sam = target.bundle.sam
    if sam is None:
        raise error
    try:
        app = load_application(sam.template)
        function = app.function(sam.function)
    except (DeployVerifyError, KeyError):
        raise error from None
    if function.code_uri is None:
        raise error
    if not _pip_built(function.build_method):
        raise _not_cross_built(error, missing, f"{sam.function} is built by BuildMethod {function.build_method}")
    layers = [layer for ref in function.layers if ref.logical_id
              for layer in (app.layer(ref.logical_id),) if layer and layer.build_method and layer.content_uri]
    for layer in layers:
        if not _pip_built(layer.build_method):
            raise _not_cross_built(error, missing, f"{sam.function}'s layer {layer.logical_id} is built by "
                                                   f"BuildMethod {layer.build_method}")
    started = time.perf_counter()
    build_dir = target.bundle.output.parent
    tails = [_cross_build_layer(layer, build_dir, target.architecture, cache_root) for layer in layers]
    tails.append(_cross_build_folder(function.code_uri, target.bundle.output, target.bundle.output, target.runtime,
                                     target.architecture, cache_root))
    how = "cached" if all(t is None for t in tails) else (
        f"pip cross-install ({target.runtime}, {target.architecture}): {function.code_uri} -> {target.bundle.output}")
    note = CrossBuilt(missing, " ".join(pip_platform_args(target.runtime, target.architecture)),
                      _summary(target.runtime, target.architecture), tuple(layer.logical_id for layer in layers))
    return BuiltBundle(target.bundle.output, target.bundle.layers, how, time.perf_counter() - started,
                       "\n".join(t for t in tails if t), cross_built=note)


def cross_built_evidence(cross: CrossBuilt) -> str:
    layers = f" with its layers {', '.join(cross.layers)}" if cross.layers else ""
    return (f"`sam build` failed only because this host has no {cross.missing_interpreter} interpreter on PATH; "
            f"cross-built{layers} instead: pip install {cross.pip_arguments}")


def cross_built_warning(cross: CrossBuilt, bundle: Path) -> Finding:
    """Pip told the platform installs wheels only, sam would compile an sdist: what was verified may not be exactly
    what `sam build` ships, which is worth a warning, not a failure."""
    return Finding(rule="DV101", path=str(bundle), line=0, severity=Severity.WARNING,
                   message=f"the bundle was cross-built by pip ({cross.pip_summary}), not by `sam build`, which needs "
                           f"a {cross.missing_interpreter} interpreter this host lacks: the two may differ (sam would "
                           f"compile an sdist); install {cross.missing_interpreter} to verify what `sam build` builds")


def _summary(runtime: str, architecture: str) -> str:
    # manylinux2014 first, then manylinux_2_x from the runtime's glibc down to 2.18: a range reads better than 18 tags.
    first, *newer = platform_tags(runtime, architecture)
    tags = f"{first} and {newer[-1]} to {newer[0]}" if newer else first
    return (f"--platform {tags} --implementation cp --python-version {runtime_info(runtime).python} "
            "--only-binary=:all:")


def _cross_build_layer(layer: SamLayer, build_dir: Path, architecture: str, cache_root: Path) -> str | None:
    # sam builds a layer for its BuildMethod's runtime, not its function's: so does this.
    assert layer.content_uri is not None
    assert layer.build_method is not None
    try:
        runtime_info(layer.build_method)
    except DeployVerifyError:
        raise BuildError(f"layer {layer.logical_id} has BuildMethod {layer.build_method}, which is no Lambda Python "
                         "runtime; name one such as python3.13", command="sam build", code=1,
                         tail=f"unknown layer BuildMethod {layer.build_method}") from None
    folder = build_dir / layer.logical_id
    return _cross_build_folder(layer.content_uri, folder, folder / "python", layer.build_method, architecture,
                               cache_root)


def _cross_build_folder(source: Path, folder: Path, into: Path, runtime: str, architecture: str,
                        cache_root: Path) -> str | None:
    """Cross-build `source` (and its requirements.txt, as sam's python_pip reads it) into `into`, inside `folder`,
    which is emptied first. Returns pip's last lines, or None when `folder` was already built from these inputs.

    Locked and stamped by `folder` (cached.py): functions that share a layer build it once, xdist workers too."""
    definition = json.dumps({"builder": "sam python_pip, cross-built", "runtime": runtime,
                             "architecture": architecture, "source": str(source), "into": str(into)})
    lock, stamp = stamp_files(cache_root, folder)
    with lock:
        wanted = input_hash(Bundle(output=folder), definition, (source,))
        if read_stamp(stamp).get("hash") == wanted and into.is_dir():
            return None
        stamp.unlink(missing_ok=True)
        say(f"cross-building {source} for {runtime} {architecture} into {folder} (`sam build` cannot run here)")
        shutil.rmtree(folder, ignore_errors=True)
        into.mkdir(parents=True)
        try:
            tail = cross_build(source, source / "requirements.txt", into, runtime, architecture)
        except BuildError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        stamp.write_text(json.dumps({"hash": wanted, "output": str(folder)}))
    return tail


def _not_cross_built(error: BuildError, missing: str, why: str) -> BuildError:
    """`error` with advice for a build the gate cannot cross-build: its own build method runs commands of its own."""
    advice = (f"`sam build` needs a {missing} interpreter on PATH and this host has none, and {why}, which the gate "
              f"does not cross-build (only python_pip builds): install {missing}, or build it with `bundle.command`")
    # run.py ends the tail with the cause, and the message quotes both: the advice takes the cause's place.
    tail = error.tail.replace(error.cause, advice) if error.cause in error.tail else f"{error.tail}\n{advice}"
    message = str(error).replace(error.cause, advice)
    return BuildError(message, command=error.command, code=error.code, tail=tail, cause=advice)
