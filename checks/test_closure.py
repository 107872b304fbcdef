"""DV222: every import in the bundle's own code resolves against the bundle, its layers and the runtime."""

from __future__ import annotations

from deployverify.core import check as dv
from deployverify.core.check import check
from deployverify.gate.probe.import_closure import closure_findings, guarded_missing, handler_modules
from deployverify.gate.probe.imports import BundleIndex
from deployverify.lambda_image.runtimes import runtime_info
from deployverify.target import Target


@check("DV222")
def test_imports_resolve(target: Target, bundle_index: BundleIndex) -> None:
    """Every `import`/`from` in first-party code, including imports inside functions, names a module found in the
    bundle, a layer, the runtime's standard library (for its Python version) or its preinstalled packages (boto3,
    botocore, ...). Guarded imports (`try/except ImportError`, `ModuleNotFoundError` or bare `except`; the `except`'s
    fallback when the `try`'s imports resolve; `importlib.util.find_spec` tests), `TYPE_CHECKING` and
    other-interpreter branches are not failures: a guarded import of an absent module is noted in the evidence.
    A failure names the file and line and suggests the fix (a path in the bundle or the source tree). An import in a
    first-party module no handler reaches is a warning naming it."""
    info = runtime_info(target.runtime)
    modules = bundle_index.first_party_modules()
    preinstalled = ", ".join(info.preinstalled_modules)
    dv.evidence(f"checked the imports of {len(modules)} first-party module(s) against {len(bundle_index.modules)} "
                f"bundle module(s), the Python {info.python} standard library and {preinstalled}")
    base = target.source_path.parent if target.source_path else None
    reached = bundle_index.first_party_closure(handler_modules(f.handler for f in target.functions))
    findings = closure_findings(bundle_index, info.python_tuple, info.preinstalled_modules, target.source_roots(),
                                target.architecture, display_base=base, reached=reached)
    guarded = guarded_missing(bundle_index, info.python_tuple, info.preinstalled_modules)
    if guarded:
        dv.evidence(f"guarded import(s) of absent modules, which the code runs without: {', '.join(guarded)}")
    dv.expect_no_findings(findings, what="import")
