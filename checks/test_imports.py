"""DV22x/DV230: every module the code can load imports in the Lambda image, and the probe ran in that image."""

from __future__ import annotations

from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.core.results import Finding, Severity
from deployverify.gate.probe import SandboxUnavailable, Selection
from deployverify.gate.probe.docker_sandbox import ImageLacksRuntime
from deployverify.gate.probe.findings import context_for, first_party_findings, third_party_findings, usable
from deployverify.gate.probe.imports import BundleIndex
from deployverify.gate.probe.run_probe import ProbeOutcome
from deployverify.gate.probe.selection import (
    ArchitectureUnavailable,
    how_to_fix_a_failed_probe,
    how_to_get_a_sandbox,
)
from deployverify.run_context import RunContext
from deployverify.target import Target


@check("DV220")
def test_first_party_modules_import(target: Target, probe_report: ProbeOutcome | SandboxUnavailable,
                                    bundle_index: BundleIndex, dv_run: RunContext) -> None:
    """Every first-party module in the bundle imports, each in isolation from the others' crashes.

    A failure names the module, the error with the file:line of the failing import, and the fix: the module under
    its bundle name, or the source-tree folder the build forgot to copy."""
    outcome = usable(probe_report)
    findings = first_party_findings(outcome.report, context_for(target, bundle_index, dv_run.target))
    dv.evidence(f"{len(bundle_index.first_party_modules())} first-party module(s) imported in {outcome.described} "
                f"(probe {outcome.probe_id})")
    dv.expect_no_findings(findings, what="module")


@check("DV221")
def test_reached_third_party_modules_import(target: Target, probe_report: ProbeOutcome | SandboxUnavailable,
                                            bundle_index: BundleIndex) -> None:
    """Third-party modules that first-party code imports (statically, or loaded while importing it) import.

    A third-party module nothing reaches that fails (an optional part such as botocore.crt) is a warning only."""
    outcome = usable(probe_report)
    findings = third_party_findings(outcome.report, context_for(target, bundle_index),
                                    bundle_index.reached_from_first_party())
    ok = sum(1 for record in outcome.modules.values() if record.get("ok"))
    dv.evidence(f"{ok} of {len(outcome.modules)} module(s) imported; {len(outcome.skipped)} test/__main__ module(s) "
                "not imported")
    dv.expect_no_findings(findings, what="module")


@check("DV230")
def test_probe_ran_in_image(target: Target, sandbox: Selection | SandboxUnavailable,
                            probe_report: ProbeOutcome | SandboxUnavailable) -> None:
    """The import probe ran in the Lambda image. Without --require-image a fallback sandbox (bubblewrap, then a
    plain process) passes with a warning that fidelity is lower on a laptop; with it, or in CI (CI=true), a fallback
    fails. Where no sandbox runs the function's architecture (arm64 on an x86_64 host without emulation), it says
    which checks ran statically and which could not run: a skip on a laptop, a failure in CI, a warning when
    `bundle.static_only` lists it. An image that is here but has no interpreter for the function's runtime (an
    `--image` or target `image:` for another Python) fails, naming the interpreter and the runtime's own image; no
    fallback stands in for a wrong setting, and the checks that read the probe are blocked by this one."""
    if isinstance(sandbox, ImageLacksRuntime):
        dv.fail(sandbox.plainly())
    if isinstance(sandbox, ArchitectureUnavailable):
        arch = sandbox.architecture
        if arch in target.bundle.static_only:
            dv.evidence(sandbox.plainly())
            dv.record(Finding("DV230", "", 0, f"static checks only for {arch} (bundle.static_only): "
                              + sandbox.plainly(), Severity.WARNING))
            return
        dv.missing(f"a sandbox that runs {arch}", sandbox.plainly(), how_to_get_a_sandbox(sandbox,
                                                                                    target.python_version))
    if isinstance(sandbox, SandboxUnavailable):
        dv.fail(registry.message("DV230", isolation="no sandbox", image=target.container_image, reason=sandbox.detail,
                                 fix=how_to_get_a_sandbox(sandbox, target.python_version)))
    assert isinstance(probe_report, ProbeOutcome)
    if probe_report.report is None:
        dv.fail(f"the import probe failed in {probe_report.described}: {probe_report.error}; "
                + how_to_fix_a_failed_probe(f"{probe_report.error} {probe_report.stderr_tail}", probe_report.image,
                                            target.python_version),
                evidence=[probe_report.stderr_tail])
    dv.evidence(f"isolation: {probe_report.described}; chosen because {probe_report.reason}; probe "
                f"{probe_report.probe_id} took {probe_report.seconds}s{' (cached)' if probe_report.cached else ''}")
    if probe_report.fallback:
        message = registry.message("DV230", isolation=probe_report.described, image=probe_report.image,
                                   reason=probe_report.reason,
                                   fix="results have lower fidelity; make the image available, and pass "
                                       "--require-image to make this a failure")
        if dv.in_ci():  # CI must prove the bundle imports in the image, not in a weaker stand-in
            dv.fail(f"{message} (CI=true: a fallback sandbox is a failure)")
        dv.record(Finding("DV230", "", 0, message, Severity.WARNING))
