"""Fixtures of the gate suite. Each is computed once per run (session scope) and shared by the checks that read it."""

from __future__ import annotations

import pytest

from deployverify.gate.build.cached import BuiltBundle
from deployverify.gate.native import native
from deployverify.gate.native.platform import platform_for
from deployverify.gate.probe import SandboxUnavailable, Selection, select_sandbox
from deployverify.gate.probe.imports import BundleIndex
from deployverify.gate.probe.run_probe import ProbeOutcome, cached_probe
from deployverify.gate.stubscan.scan_report import ScanReport
from deployverify.run_context import RunContext
from deployverify.target import Target


@pytest.fixture(scope="session")
def bundle_index(built_bundle: BuiltBundle) -> BundleIndex:
    """The bundle's (and layers') modules, first-party flags and imports, read statically once per run."""
    return BundleIndex.from_bundle(built_bundle.path, built_bundle.layers)


@pytest.fixture(scope="session")
def native_report(target: Target, built_bundle: BuiltBundle) -> native.NativeReport:
    """Every .so/.pyd header and WHEEL tag in the bundle and layers, judged against the runtime (DV201-DV205)."""
    platform = platform_for(target.runtime, target.architecture)
    return native.native_report(built_bundle.path, built_bundle.layers, platform)


@pytest.fixture(scope="session")
def sandbox(target: Target, dv_run: RunContext) -> Selection | SandboxUnavailable:
    """Where the probe runs: the Lambda image in Docker, else bubblewrap, else a plain process; DV230 reports which
    and why. With --require-image only the image will do (the error is returned, for DV230 to report)."""
    try:
        return select_sandbox(target, require_image=dv_run.require_image)
    except SandboxUnavailable as exc:
        return exc


@pytest.fixture(scope="session")
def probe_report(target: Target, built_bundle: BuiltBundle, sandbox: Selection | SandboxUnavailable,
                 dv_run: RunContext) -> ProbeOutcome | SandboxUnavailable:
    """The import probe's report (handler init + every module), run once per bundle state even under xdist."""
    if isinstance(sandbox, SandboxUnavailable):
        return sandbox
    return cached_probe(target, built_bundle.path, built_bundle.layers, sandbox, dv_run.cache_dir)


@pytest.fixture(scope="session")
def stub_scan(target: Target, built_bundle: BuiltBundle) -> ScanReport:
    """The stub scan (DV301-DV309) of the handlers' call graphs over the built bundle's first-party code, or over
    scan.paths; cached by content, so xdist workers and re-runs on unchanged code reuse one result."""
    from deployverify.gate.stubscan.scan import scan_target

    return scan_target(target, built_bundle.path)
