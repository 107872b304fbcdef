"""The import probe in every sandbox: Lambda's handler errors, crash and hang isolation, sys.path order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deployverify.gate.probe.run_probe import ProbeOutcome, run_probe
from deployverify.gate.probe.selection import Selection
from deployverify.target import target_from_bundle
from tests.support.env import TEST_IMAGE, require_bwrap, require_docker

BAD = Path(__file__).resolve().parents[3] / "fixtures" / "bad-bundles"


def _selection(kind: str) -> Selection:
    if kind == "docker":
        require_docker()
        from deployverify.gate.probe import docker_sandbox

        return Selection(docker_sandbox.connect(TEST_IMAGE, "3.11", pull=False), "test", False, TEST_IMAGE)
    if kind == "bubblewrap":
        require_bwrap()
        from deployverify.gate.probe import bubblewrap

        return Selection(bubblewrap.connect("3.11"), "test", True, TEST_IMAGE)
    from deployverify.gate.probe import plain

    return Selection(plain.connect("3.11"), "test", True, TEST_IMAGE)


def _probe(kind: str, fixture: str, handler: str, tmp_path: Path, **options: float) -> ProbeOutcome:
    bundle = tmp_path / fixture
    shutil.copytree(BAD / fixture, bundle)
    target = target_from_bundle(bundle, handler, "python3.11", image=TEST_IMAGE)
    outcome = run_probe(target, bundle, (), _selection(kind), **options)  # type: ignore[arg-type]
    assert outcome.report is not None, f"{outcome.error}\n{outcome.stderr_tail}"
    return outcome


KINDS = ["docker", "bubblewrap", "plain"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("fixture", "handler", "error_type", "phrase"), [
    ("handler_not_found", "app.handler", "Runtime.HandlerNotFound", "Handler 'handler' missing on module 'app'"),
    ("namespace_handler", "src/app.handler", None, ""),
    ("crash_at_import", "app.handler", "KeyError", "DOCUMENT_BUCKET"),
    ("builtin_conflict", "time.handler", "Runtime.BuiltInModuleConflict", "Cannot use built-in module time"),
    ("syntax_error", "app.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'app'"),
])
def test_handler_resolution_matches_lambda(kind: str, fixture: str, handler: str, error_type: str | None,
                                           phrase: str, tmp_path: Path) -> None:
    outcome = _probe(kind, fixture, handler, tmp_path)
    [record] = outcome.handlers
    assert record["handler"] == handler
    assert record["ok"] is (error_type is None), record
    if error_type:
        assert record["error_type"] == error_type
        assert phrase in record["message"]
    else:
        assert record["init_ms"] >= 0
        assert record["peak_rss_kb"] > 0


@pytest.mark.parametrize("kind", KINDS)
def test_crash_hang_and_exit_cost_one_module_each(kind: str, tmp_path: Path) -> None:
    outcome = _probe(kind, "import_crashes", "app.handler", tmp_path, module_timeout_s=3)
    modules = outcome.modules
    assert modules["segfaults"]["error_type"] == "Crash"
    assert "SIGSEGV" in modules["segfaults"]["message"]
    assert modules["hangs"]["error_type"] == "Timeout"
    assert modules["exits"]["error_type"] == "Crash"
    assert "status 3" in modules["exits"]["message"]
    for survivor in ("app", "helpers", "zz_after"):
        assert modules[survivor]["ok"] is True, modules[survivor]
    assert outcome.handlers[0]["ok"] is True


def test_docker_probe_uses_the_runtime_resolver_and_lambda_path(tmp_path: Path) -> None:
    outcome = _probe("docker", "namespace_handler", "src/app.handler", tmp_path)
    report = outcome.report or {}
    assert outcome.handlers[0]["resolver"].startswith("awslambdaric")
    assert report["sys_path"][:5] == ["/var/task", "/opt/python/lib/python3.11/site-packages", "/opt/python",
                                      "/var/lang/lib/python3.11/site-packages", "/var/runtime"]
    # Lambda gives no HOME; the container runtime adds one, the probe removes it.
    assert "HOME" not in report["env_names"]
    assert {"_HANDLER", "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "LAMBDA_TASK_ROOT"} <= set(report["env_names"])
    assert outcome.modules["src.app"]["ok"] is True


def test_fallback_probe_uses_the_equivalent_resolver(tmp_path: Path) -> None:
    """Outside the image awslambdaric is absent, so the probe's line-for-line copy of _get_handler answers."""
    outcome = _probe("bubblewrap", "handler_not_found", "app.handler", tmp_path)
    assert "copy of awslambdaric" in outcome.handlers[0]["resolver"]
