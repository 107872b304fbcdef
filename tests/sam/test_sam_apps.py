"""The SAM application corpus (fixtures/sam-apps/<app>/), run as a user would: `deployverify init` in the app's
folder, then the written target is read back (and, where expected.yaml asks, `deployverify gate` runs on it).

Each app's expected.yaml is its verdict: the functions with their settings and whose build output each runs
(`built_from`, default its own), the functions written only as comments (another runtime), those not applicable
(images), each function's layers, the DLQ, lines the file must contain; or, for a broken template, exit 2 and the
phrases of the one error line (file:line and resource). A `gate:` section runs the gate (after init, or on the
template alone with `without_init`) and names each result `Function:DVnnn`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployverify.target import load_target
from tests.support.env import TEST_IMAGE, require_docker, require_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
APPS = REPO_ROOT / "fixtures" / "sam-apps"
TOOLS = REPO_ROOT / ".ci-tools" / "bin"


def expected(app: str) -> dict[str, Any]:
    verdict: dict[str, Any] = yaml.safe_load((APPS / app / "expected.yaml").read_text(encoding="utf-8"))
    return verdict


def deployverify(folder: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": os.pathsep.join((str(TOOLS), str(Path(sys.executable).parent),
                                                  os.environ.get("PATH", "")))}
    return subprocess.run([sys.executable, "-m", "deployverify.cli", *args], cwd=folder, env=env,
                          capture_output=True, text=True, check=False, timeout=timeout)


@pytest.fixture
def app_folder(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    folder = tmp_path / str(request.param)
    shutil.copytree(APPS / str(request.param), folder, ignore=shutil.ignore_patterns("expected.yaml"))
    return folder


ALL_APPS = sorted(p.name for p in APPS.iterdir() if (p / "expected.yaml").exists())


def test_the_corpus_has_every_case_this_reader_covers() -> None:
    assert {"globals-sub-env", "image-function", "layer-resource", "yaml-syntax-error", "unknown-intrinsic",
            "guarded-import", "long-form-intrinsics", "runtime-313", "arm64-function", "import-time-aws",
            "exec-wrapper-script", "unreached-missing-optional", "same-handler-three-codeuris",
            "local-layer-shared-code", "powertools-layer-arn", "runtime-313-layer",
            "runtime-313-makefile", "shared-code-own-environment"} <= set(ALL_APPS)


@pytest.mark.parametrize("app_folder", ALL_APPS, indirect=True)
def test_init_writes_the_expected_target(app_folder: Path) -> None:
    verdict = expected(app_folder.name)["init"]
    done = deployverify(app_folder, "init")
    assert done.returncode == verdict["exit"], done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    if verdict["exit"] == 2:
        (line,) = done.stderr.strip().splitlines()  # one clear error line
        for phrase in verdict["stderr"]:
            assert phrase in line
        assert not (app_folder / "deployverify.yaml").exists()
        return
    text = (app_folder / "deployverify.yaml").read_text(encoding="utf-8")
    target = load_target(app_folder / "deployverify.yaml", env={})
    assert (target.name, target.runtime, target.architecture) == (verdict["name"], verdict["runtime"],
                                                                  verdict["architecture"])
    written = [{"name": f.name, "handler": f.handler, "function_name": f.function_name, "timeout_s": f.timeout_s,
                "memory_mb": f.memory_mb, **({"reserved_concurrency": f.reserved_concurrency}
                                             if f.reserved_concurrency is not None else {}),
                **({"environment": f.environment} if f.environment else {})} for f in target.functions]
    assert written == verdict["functions"]
    # Each function's code is its own `sam build` output, or that of the function it really shares code with.
    built_from = {f.name: target.bundle_of(f).sam.function for f in target.functions  # type: ignore[union-attr]
                  if target.bundle_of(f).sam is not None}
    assert built_from == verdict.get("built_from", {f.name: f.name for f in target.functions})
    for name in verdict.get("commented", []):
        assert f"# - name: {name}" in text
    for name in verdict.get("not_applicable", []):
        assert f"# Not applicable: {name} " in text
    layers = {f.name: [p.relative_to(app_folder).as_posix() for p in target.bundle_of(f).layers]
              for f in target.functions if target.bundle_of(f).layers}
    assert layers == verdict.get("layers", {})
    remote = {f.name: [arn for _, arn in target.bundle_of(f).remote_layers]
              for f in target.functions if target.bundle_of(f).remote_layers}
    assert remote == verdict.get("remote_layers", {})
    assert target.dlq == verdict.get("dlq")
    for phrase in verdict.get("text", []):
        assert phrase in text


GATED = [app for app in ALL_APPS if "gate" in expected(app)]


@pytest.mark.slow
@pytest.mark.parametrize("app_folder", GATED, indirect=True)
def test_gate_runs_on_what_init_wrote(app_folder: Path) -> None:
    require_tool(str(TOOLS / "sam") if (TOOLS / "sam").exists() else "sam", "the AWS SAM CLI")
    verdict = expected(app_folder.name)["gate"]
    image = ["--image", TEST_IMAGE] if verdict.get("image") else []
    if image:
        require_docker()
    if not verdict.get("without_init"):
        assert deployverify(app_folder, "init", *verdict.get("init_args", [])).returncode == 0
    done = deployverify(app_folder, "gate", "-k", verdict["keyword"], "--report-dir", str(app_folder / "out"),
                        *image, timeout=600)
    report = json.loads((app_folder / "out" / "report.json").read_text(encoding="utf-8"))
    # Results about one function are keyed `Function:DVnnn`, results about the whole run plain `DVnnn`.
    statuses = {(f"{check['function']}:" if "function" in check else "") + check["id"]: check["status"]
                for check in report["checks"]}
    assert statuses == verdict["checks"], done.stdout + done.stderr
    for phrase in verdict.get("stdout", []):
        assert phrase in done.stdout, done.stdout
    # Shared work is done once: one `sam build` per template, one probe per distinct bundle.
    for phrase, times in verdict.get("said", {}).items():
        assert (done.stdout + done.stderr).count(phrase) == times, done.stderr
    evidence = "\n".join(line for check in report["checks"] for line in check["evidence"])
    for phrase in verdict.get("evidence", []):
        assert phrase in evidence
    if "message" in verdict:
        assert verdict["message"] in " ".join(check["message"] for check in report["checks"])
    assert done.returncode == verdict.get("exit", done.returncode), done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV222:fail", "DV222:pass")
@pytest.mark.parametrize("app_folder", ["same-handler-three-codeuris"], indirect=True)
def test_gate_runs_on_the_template_alone(app_folder: Path) -> None:
    """No deployverify.yaml: the gate reads template.yaml and checks every function in its own code."""
    require_tool(str(TOOLS / "sam") if (TOOLS / "sam").exists() else "sam", "the AWS SAM CLI")
    done = deployverify(app_folder, "gate", "-k", "DV222", "--report-dir", str(app_folder / "out"), timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no deployverify.yaml: checking every function of template.yaml" in done.stdout
    report = json.loads((app_folder / "out" / "report.json").read_text(encoding="utf-8"))
    assert {(c["function"], c["status"]) for c in report["checks"]} == {
        ("OrdersFunction", "pass"), ("PaymentsFunction", "pass"), ("ShippingFunction", "fail")}
    assert not (app_folder / "deployverify.yaml").exists()
    assert done.stderr.count("building the bundle") == 1, done.stderr  # one `sam build` for the three functions
    assert done.stderr.count("building the bundle") == 1, done.stderr  # one `sam build` for the three functions


@pytest.mark.slow
@pytest.mark.dv_outcomes("DV101:fail", "DV101:pass")
@pytest.mark.parametrize("app_folder", ["same-handler-three-codeuris"], indirect=True)
def test_a_failing_template_build_fails_only_the_function_that_does_not_build(app_folder: Path) -> None:
    """One `sam build` builds every function of the template; when it fails, each function is built alone once, and
    only the one that does not build fails DV101 (with its own build's lines), the others are checked as usual."""
    require_tool(str(TOOLS / "sam") if (TOOLS / "sam").exists() else "sam", "the AWS SAM CLI")
    (app_folder / "functions" / "payments" / "Makefile").write_text(
        "build-PaymentsFunction:\n\t@echo 'payments: the vendored SDK is missing' >&2; false\n")
    done = deployverify(app_folder, "gate", "-k", "DV101 or DV102", "--report-dir", str(app_folder / "out"),
                        timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("building the bundle") == 1, done.stderr
    assert done.stderr.count("building each function alone") == 1, done.stderr
    report = json.loads((app_folder / "out" / "report.json").read_text(encoding="utf-8"))
    checks = {(c["function"], c["id"]): c for c in report["checks"]}
    assert {key: check["status"] for key, check in checks.items()} == {
        ("OrdersFunction", "DV101"): "pass", ("OrdersFunction", "DV102"): "pass",
        ("ShippingFunction", "DV101"): "pass", ("ShippingFunction", "DV102"): "pass",
        ("PaymentsFunction", "DV101"): "fail", ("PaymentsFunction", "DV102"): "skip"}
    failed = checks[("PaymentsFunction", "DV101")]
    assert "PaymentsFunction`" in failed["message"], failed["message"]
    assert "payments: the vendored SDK is missing" in " ".join(failed["evidence"]), failed["evidence"]
    # The message quotes sam's own error line, not make's closing `*** [...] Error 1` that follows it.
    assert "Error: CustomMakeBuilder:MakeBuild - Make Failed" in failed["message"], failed["message"]
    assert "***" not in failed["message"], failed["message"]
