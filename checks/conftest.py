"""Fixtures of the gate suite. Each is computed once per run (session scope) and shared by the checks that read it.

The gate checks every function of the application in its own code: each check runs once per function (the
`dv_function` parameter, which also names the function in the check's result), and `target` is the application as
that function sees it: that function alone, its own bundle and layers. Work that does not depend on the function is
shared: one build per template (gate/build), one probe per bundle and environment (`code_target`: every function
running the same bundle under the same variables), one static read of each bundle per process (the memo below).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from deployverify.gate.build.cached import BuiltBundle
from deployverify.gate.build.inventory import Inventory, ZipEstimate, estimate_zipped, take_inventory
from deployverify.gate.native import native
from deployverify.gate.native.platform import platform_for
from deployverify.gate.probe import SandboxUnavailable, Selection, select_sandbox
from deployverify.gate.probe.imports import BundleIndex
from deployverify.gate.probe.run_probe import ProbeOutcome, cached_probe
from deployverify.gate.stubscan.scan_report import ScanReport
from deployverify.plugin import FUNCTION_PARAM, run_context
from deployverify.run_context import RunContext
from deployverify.target import Target

T = TypeVar("T")
# (what, inputs) -> value: functions that share a bundle, runtime and sandbox share what was computed from them.
_shared: dict[tuple[Any, ...], Any] = {}


def _once(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    if key not in _shared:
        _shared[key] = compute()
    value: T = _shared[key]
    return value


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    info = run_context(metafunc.config)
    if info is None or FUNCTION_PARAM not in metafunc.fixturenames:
        return  # no target: dv_run skips the check
    names = [function.name for function in info.target.functions]
    metafunc.parametrize(FUNCTION_PARAM, names, ids=names, indirect=True, scope="session")


@pytest.fixture(scope="session", autouse=True)
def _fresh_shared_work() -> None:
    _shared.clear()  # `deployverify demo` runs several sessions in one process: each computes its own


@pytest.fixture(scope="session")
def dv_function(request: pytest.FixtureRequest) -> str | None:
    """The function of the application this check item is about."""
    return getattr(request, "param", None)


@pytest.fixture(scope="session")
def target(dv_run: RunContext, dv_function: str | None) -> Target:
    """The application as one function sees it: that function alone, with its own bundle and layers."""
    if dv_function is None:
        return dv_run.target
    return dv_run.target.for_function(dv_function)


@pytest.fixture(scope="session")
def code_target(dv_run: RunContext, dv_function: str | None) -> Target:
    """Every function that runs the same bundle as this one with the same environment: one probe imports all their
    handlers."""
    if dv_function is None:
        return dv_run.target
    return dv_run.target.sharing_code(dv_function)


@pytest.fixture(scope="session")
def bundle_index(built_bundle: BuiltBundle) -> BundleIndex:
    """The bundle's (and layers') modules, first-party flags and imports, read statically once per run."""
    return _once(("index", built_bundle.path, built_bundle.layers),
                 lambda: BundleIndex.from_bundle(built_bundle.path, built_bundle.layers))


@pytest.fixture(scope="session")
def bundle_inventory(built_bundle: BuiltBundle) -> Inventory:
    """Every file of the bundle and its layers with its size (DV103), taken once per bundle and layers."""
    return _once(("inventory", built_bundle.path, built_bundle.layers),
                 lambda: take_inventory(built_bundle.path, built_bundle.layers))


@pytest.fixture(scope="session")
def zipped_estimate(bundle_inventory: Inventory, built_bundle: BuiltBundle) -> ZipEstimate:
    """The function's own zip size, estimated (by deflating samples when it could exceed 50 MB) once per bundle."""
    return _once(("zipped", built_bundle.path, built_bundle.layers), lambda: estimate_zipped(bundle_inventory))


@pytest.fixture(scope="session")
def native_report(target: Target, built_bundle: BuiltBundle) -> native.NativeReport:
    """Every .so/.pyd header and WHEEL tag in the bundle and layers, judged against the runtime (DV201-DV205)."""
    platform = platform_for(target.runtime, target.architecture)
    return _once(("native", built_bundle.path, built_bundle.layers, target.runtime, target.architecture),
                 lambda: native.native_report(built_bundle.path, built_bundle.layers, platform))


@pytest.fixture(scope="session")
def sandbox(target: Target, dv_run: RunContext) -> Selection | SandboxUnavailable:
    """Where the probe runs: the Lambda image in Docker, else bubblewrap, else a plain process; DV230 reports which
    and why. With --require-image only the image will do (the error is returned, for DV230 to report)."""
    def choose() -> Selection | SandboxUnavailable:
        try:
            return select_sandbox(target, require_image=dv_run.require_image)
        except SandboxUnavailable as exc:
            return exc

    return _once(("sandbox", target.container_image, target.python_version, target.architecture, dv_run.require_image),
                 choose)


@pytest.fixture(scope="session")
def probe_report(code_target: Target, built_bundle: BuiltBundle, sandbox: Selection | SandboxUnavailable,
                 dv_run: RunContext) -> ProbeOutcome | SandboxUnavailable:
    """The import probe's report (the handlers of every function running this bundle, and every module), run once
    per bundle state even under xdist."""
    if isinstance(sandbox, SandboxUnavailable):
        return sandbox
    # The environment is part of the key: functions running one handler under different variables are probed apart.
    handlers = tuple((f.handler, tuple(sorted(f.environment.items()))) for f in code_target.functions)
    return _once(("probe", built_bundle.path, built_bundle.layers, handlers, id(sandbox)),
                 lambda: cached_probe(code_target, built_bundle.path, built_bundle.layers, sandbox, dv_run.cache_dir))


@pytest.fixture(scope="session")
def stub_scan(target: Target, built_bundle: BuiltBundle) -> ScanReport:
    """The stub scan (DV301-DV309) of this function's handler call graph over its built bundle's first-party code,
    or over scan.paths; cached by content, so xdist workers and re-runs on unchanged code reuse one result."""
    from deployverify.gate.stubscan.scan import scan_target

    return scan_target(target, built_bundle.path)
