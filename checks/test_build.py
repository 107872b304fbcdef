"""DV1xx: the bundle builds, holds the handler's file, fits Lambda's limits, and is what is deployed."""

from __future__ import annotations

from typing import Any

from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.core.errors import BuildError
from deployverify.core.handler import is_wrapper_script, parse_handler
from deployverify.core.results import Finding, Severity
from deployverify.deployed.code_identity import built_code_sha256, compare_deployed_files, deployed_code, no_aws_reason
from deployverify.gate.build.cached import BuiltBundle
from deployverify.gate.build.inventory import Inventory, ZipEstimate, human, size_failure, zipped_warning
from deployverify.gate.build.sam_cross import cross_built_evidence, cross_built_warning
from deployverify.run_context import RunContext
from deployverify.target import Target


@check("DV101")
def test_bundle_builds(build_outcome: Any) -> None:
    """The target's build (its command, `sam build`, or the built-in pip build) succeeds and leaves a bundle.

    The build is cached by a hash of its inputs; a failure quotes the command and the line of its output that says
    what failed (the last `Error`-led line, such as sam's or pip's, else the last line), with the tail as evidence.

    A python_pip function on a runtime this host has no interpreter of (python3.13 on a 3.11 runner), which `sam
    build` cannot build, is cross-built with the layers sam builds for it instead, without running sam for it (pip
    --platform manylinux2014_<cpu> --python-version X.Y --only-binary=:all:, into the same folders, reused while its
    inputs are unchanged): that passes, with a warning that the bundle was not built by `sam build`. A dependency
    without a wheel for the platform fails, naming it. A function built by a Makefile or another BuildMethod is left
    to `sam build`, which needs no interpreter for it; if sam still fails for want of one, DV101 fails, saying so.

    A layer given by ARN that the gate can neither download nor rebuild (an extension, the Lambda Web Adapter, a
    private layer without AWS access) is a warning naming it: the other checks run without it, and a module only it
    provides fails the import checks.
    """
    if isinstance(build_outcome, BuildError):
        dv.fail(registry.message("DV101", command=build_outcome.command or "build", code=build_outcome.code,
                                 tail=build_outcome.cause),
                evidence=[str(build_outcome)])
    if isinstance(build_outcome, Exception):
        dv.fail(str(build_outcome))
    dv.evidence(f"bundle: {build_outcome.path} ({build_outcome.how}, {build_outcome.seconds:.1f}s)")
    warnings = [Finding("DV101", str(build_outcome.path), 0, missing, Severity.WARNING)
                for missing in build_outcome.missing_layers]
    if build_outcome.cross_built is not None:
        dv.evidence(cross_built_evidence(build_outcome.cross_built))
        warnings.append(cross_built_warning(build_outcome.cross_built, build_outcome.path))
    dv.expect_no_findings(warnings)


@check("DV102")
def test_handler_file_in_bundle(target: Target, built_bundle: BuiltBundle) -> None:
    """Each function's handler module exists as a file in the bundle (or a layer), where Lambda will look for it; a
    script handler run through an exec wrapper (`run.sh`) exists at the bundle root."""
    for function in target.functions:
        if is_wrapper_script(function.handler, function.environment):
            if not (built_bundle.path / function.handler).is_file():
                dv.fail(registry.message("DV102", handler=function.handler, expected=function.handler,
                                         hint=" (a script the exec wrapper runs from the bundle root)"))
            continue
        handler = parse_handler(function.handler)
        roots = (built_bundle.path, *(layer / "python" for layer in built_bundle.layers))
        candidates = handler.candidate_files()
        if any((root / c).is_file() for root in roots for c in candidates):
            continue
        stem = candidates[0].name
        near = sorted(str(p.relative_to(built_bundle.path)) for p in built_bundle.path.rglob(stem))[:3]
        hint = f" (found {', '.join(near)}: the handler path must be relative to the bundle root)" if near else ""
        dv.fail(registry.message("DV102", handler=function.handler, expected=str(candidates[0]), hint=hint))


@check("DV103")
def test_bundle_size(bundle_inventory: Inventory, zipped_estimate: ZipEstimate) -> None:
    """The bundle and its layers are at most 262,144,000 bytes unzipped (apparent sizes, as Lambda counts them); the
    failure quotes the biggest contributors by distribution. A zip over 50 MB (too big to upload directly) warns."""
    inventory = bundle_inventory
    dv.evidence(inventory.summary())
    failure = size_failure(inventory)
    if failure:
        dv.fail(failure)
    zipped = zipped_estimate
    dv.evidence(f"zipped: about {human(zipped.size)} ({zipped.method}, {zipped.seconds * 1000:.0f} ms)")
    dv.expect_no_findings([w for w in (zipped_warning(zipped),) if w])


@check("DV104")
def test_deployed_code_is_built_code(target: Target, built_bundle: BuiltBundle, dv_run: RunContext) -> None:
    """Each deployed function runs the built bundle: its CodeSha256 equals the built bundle's deterministic zip, or,
    when another tool (`sam deploy`) zipped it, the deployed zip's files are byte-identical to the bundle's.

    The gate's side of DV603 (same comparison, same message): asked before `sam deploy`, against what is live now.

    Not applicable when there is nothing deployed to ask about: no function_name, no AWS credentials or region, or a
    function that does not exist. When Lambda refuses GetFunction (AccessDenied) or cannot be reached
    (AWS_ENDPOINT_URL is honoured), the comparison is missing: a skip on a laptop, a failure in CI."""
    named = [f.function_name for f in target.functions if f.function_name]
    if not named:
        dv.not_applicable("no functions[].function_name: nothing deployed to compare with")
    reason = no_aws_reason(target)
    if reason:
        dv.not_applicable(reason)
    deployed = [deployed_code(target, name) for name in named]
    unanswered = [d.reason for d in deployed if d.unanswered]
    if unanswered:
        dv.missing("the deployed function's code (Lambda GetFunction)", "; ".join(unanswered),
                   "grant lambda:GetFunction to the CI role and make the Lambda endpoint reachable")
    comparable = [d for d in deployed if d.code_sha256]
    if not comparable:
        dv.not_applicable("; ".join(d.reason for d in deployed))
    built = built_code_sha256(built_bundle.path, dv_run.cache_dir)
    dv.evidence(f"built bundle zips to CodeSha256 {built}", *(d.reason for d in deployed if d.reason))
    for code in comparable:
        if code.code_sha256 == built:
            dv.evidence(f"`{code.function}` runs CodeSha256 {code.code_sha256}: the built bundle")
            continue
        files = compare_deployed_files(target, code.function, built_bundle.path)
        if files.identical:
            dv.evidence(f"`{code.function}` was zipped by another tool (CodeSha256 {code.code_sha256}); "
                        + files.detail)
            continue
        dv.fail(registry.message("DV104", function=code.function, deployed=code.code_sha256, built=built),
                evidence=[files.detail])
