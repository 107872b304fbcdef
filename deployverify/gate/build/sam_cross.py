"""Cross-build a `bundle.sam` function that `sam build` cannot build here because this host has no interpreter of
its runtime (python3.13 on a 3.11 CI runner: aws-lambda-builders refuses to run pip under any other CPython).

What `sam build` would have run for a python_pip function is pip into <build-dir>/<Function> and the CodeUri copied on
top; for a layer with `BuildMethod: python3.x`, the same into <build-dir>/<Layer>/python. cross.py does that with pip
told the platform (wheels only), so the function lands where the target's `bundle.output` and `bundle.layers` already
point, and every later check reads it as if sam had built it. DV101 then passes with a warning that says so: pip told
the platform is not `sam build`, so the two may differ (a dependency with only an sdist, which sam would compile).

Such functions are picked before sam runs (`cross_built_up_front`), so no run pays for a `sam build` bound to fail,
and each folder is stamped with its inputs (cached.py), so an unchanged function is reused by the next run.

Only python_pip builds are replaced. A function or layer built by a Makefile, esbuild or any other BuildMethod runs
its own commands, which need no interpreter of the runtime: `sam build` builds it. Should sam still fail for want of
the interpreter, `cross_build_sam_function` turns that into advice that says why the gate cannot build it.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from deployverify.core.errors import BuildError, DeployVerifyError
from deployverify.core.results import Finding, Severity
from deployverify.gate.build.cached import BuiltBundle, CrossBuilt, build_unless_current, input_hash
from deployverify.gate.build.cross import cross_build, host_interpreter, pip_platform_args, platform_tags
from deployverify.lambda_image.runtimes import runtime_info
from deployverify.sam.application import load_application
from deployverify.sam.model import SamApplication, SamFunction, SamLayer
from deployverify.target.model import Bundle, Target

# A function without BuildMethod is built by python_pip; a BuildMethod naming a Python runtime is the same builder.
_PIP_BUILD_METHOD = re.compile(r"python3\.\d+")


def _pip_built(build_method: str | None) -> bool:
    return build_method is None or bool(_PIP_BUILD_METHOD.fullmatch(build_method))


def cross_built_up_front(template: Path, functions: Iterable[str]) -> list[str]:
    """The `functions` of `template` the gate cross-builds without running `sam build`: python_pip builds (and every
    layer sam builds for them too) on a runtime this host has no interpreter of. The others (runtimes the host has,
    Makefile and other builds, which need no interpreter) are left to `sam build`; none when the template cannot be
    read (`sam build` then says what is wrong with it)."""
    try:
        app = load_application(template)
    except DeployVerifyError:
        return []
    wanted = set(functions)
    return sorted(f.logical_id for f in app.functions if f.logical_id in wanted and f.code_uri is not None
                  and _pip_built(f.build_method) and _host_lacks(f.runtime)
                  and all(_pip_built(layer.build_method) for layer in _built_layers(app, f)))


def _host_lacks(runtime: str) -> bool:
    try:
        return host_interpreter(runtime) is None
    except DeployVerifyError:  # no Lambda Python runtime: not the gate's to cross-build
        return False


def _built_layers(app: SamApplication, function: SamFunction) -> list[SamLayer]:
    """The layers of this template `sam build` builds for `function` (those with a BuildMethod and local content)."""
    return [layer for ref in function.layers if ref.logical_id
            for layer in (app.layer(ref.logical_id),) if layer and layer.build_method and layer.content_uri]


def _read_back(target: Target) -> tuple[SamApplication, SamFunction]:
    """`target`'s template and function, read back for a cross-build chosen by `cross_built_up_front`."""
    sam = target.bundle.sam
    if sam is None:
        raise ValueError("only a `bundle.sam` function is cross-built in sam's place")
    try:
        app = load_application(sam.template)
        return app, app.function(sam.function)
    except (DeployVerifyError, KeyError):
        raise BuildError(f"{sam.template} changed while the gate read it: {sam.function} is no longer in it; run the "
                         "gate again", command="sam build", code=1, tail=f"no {sam.function} in {sam.template}"
                         ) from None


def cross_build_sam_function(target: Target, cache_root: Path, missing: str, error: BuildError | None = None
                             ) -> BuiltBundle:
    """`target`'s SAM function and the layers sam builds for it, cross-built into the target's build folder.

    `error` is the failed `sam build` (for want of a `missing` interpreter), None when the function was chosen up
    front: raised again when the template cannot be read back, and turned into advice naming the build method when
    the function or a layer is not a python_pip build. A dependency without a wheel for the platform raises
    cross.MissingWheel."""
    sam = target.bundle.sam
    if error is None:
        app, function = _read_back(target)
    else:
        if sam is None:
            raise error
        try:
            app = load_application(sam.template)
            function = app.function(sam.function)
        except (DeployVerifyError, KeyError):
            raise error from None
    if function.code_uri is None:
        raise error or BuildError(f"{function.logical_id} has no local CodeUri to cross-build", command="sam build",
                                  code=1, tail=f"no CodeUri for {function.logical_id}")
    layers = _built_layers(app, function)
    if error is not None:
        if not _pip_built(function.build_method):
            raise _not_cross_built(error, missing,
                                   f"{function.logical_id} is built by BuildMethod {function.build_method}")
        for layer in layers:
            if not _pip_built(layer.build_method):
                raise _not_cross_built(error, missing, f"{function.logical_id}'s layer {layer.logical_id} is built "
                                                       f"by BuildMethod {layer.build_method}")
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
    return (f"`sam build` cannot build it here: this host has no {cross.missing_interpreter} interpreter on PATH; "
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

    def build() -> str:
        shutil.rmtree(folder, ignore_errors=True)
        into.mkdir(parents=True)
        try:
            return cross_build(source, source / "requirements.txt", into, runtime, architecture)
        except BuildError:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    return build_unless_current(cache_root, folder, input_hash(Bundle(output=folder), definition, (source,)), into,
                                f"cross-building {source} for {runtime} {architecture} into {folder} (`sam build` "
                                "cannot run here)", build)


def _not_cross_built(error: BuildError, missing: str, why: str) -> BuildError:
    """`error` with advice for a build the gate cannot cross-build: its own build method runs commands of its own."""
    advice = (f"`sam build` needs a {missing} interpreter on PATH and this host has none, and {why}, which the gate "
              f"does not cross-build (only python_pip builds): install {missing}, or build it with `bundle.command`")
    # run.py ends the tail with the cause, and the message quotes both: the advice takes the cause's place.
    tail = error.tail.replace(error.cause, advice) if error.cause in error.tail else f"{error.tail}\n{advice}"
    message = str(error).replace(error.cause, advice)
    return BuildError(message, command=error.command, code=error.code, tail=tail, cause=advice)
