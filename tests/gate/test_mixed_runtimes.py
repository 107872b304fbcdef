"""An application whose functions run on different runtimes is judged function by function, in one gate run."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployverify.target import load_target
from tests.support.gate_run import run_gate


def _bundle(folder: Path, tag: str) -> None:
    """A pure-Python package whose wheel was built for `tag` (what pip leaves in a bundle), and a handler."""
    meta = folder / "fastpkg-1.0.dist-info"
    meta.mkdir(parents=True)
    (folder / "fastpkg").mkdir()
    (folder / "fastpkg" / "__init__.py").write_text('VERSION = "1.0"\n', encoding="utf-8")
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: fastpkg\nVersion: 1.0\n", encoding="utf-8")
    (meta / "WHEEL").write_text(f"Wheel-Version: 1.0\nGenerator: bdist_wheel (0.43.0)\nRoot-Is-Purelib: false\n"
                                f"Tag: {tag}\n", encoding="utf-8")
    (meta / "RECORD").write_text("fastpkg/__init__.py,,\n", encoding="utf-8")
    (folder / "app.py").write_text("import fastpkg\n\n\ndef handler(event, context):\n    return fastpkg.VERSION\n",
                                   encoding="utf-8")


def _target(folder: Path, *, declare_runtime: bool) -> Path:
    _bundle(folder / "old", "cp311-cp311-manylinux2014_x86_64")
    _bundle(folder / "new", "cp312-cp312-manylinux2014_x86_64")
    own = "    runtime: python3.12\n" if declare_runtime else ""
    path = folder / "deployverify.yaml"
    path.write_text("name: mixed\nruntime: python3.11\nfunctions:\n"
                    "  - name: Legacy\n    handler: app.handler\n    bundle: {output: old}\n"
                    f"  - name: Modern\n    handler: app.handler\n{own}    bundle: {{output: new}}\n",
                    encoding="utf-8")
    return path


def test_a_function_declares_its_own_runtime(tmp_path: Path) -> None:
    target = load_target(_target(tmp_path, declare_runtime=True))
    assert [target.platform_of(f) for f in target.functions] == [("python3.11", "x86_64"), ("python3.12", "x86_64")]
    assert target.for_function("Modern").runtime == "python3.12"
    assert [f.name for f in target.sharing_code("Legacy").functions] == ["Legacy"]


@pytest.mark.dv_outcomes("DV205:pass", "DV205:fail")
def test_each_function_is_judged_on_its_own_runtime(tmp_path: Path) -> None:
    declared = run_gate(["-c", str(_target(tmp_path / "declared", declare_runtime=True)), "-k", "DV205"],
                        tmp_path / "declared-out", env={"DV_CACHE_DIR": str(tmp_path / "c1")})
    assert (declared.status("Legacy:DV205"), declared.status("Modern:DV205")) == ("pass", "pass")
    # The same application without Modern's runtime: its cp312 wheel is judged against python3.11 and fails.
    undeclared = run_gate(["-c", str(_target(tmp_path / "undeclared", declare_runtime=False)), "-k", "DV205"],
                          tmp_path / "undeclared-out", env={"DV_CACHE_DIR": str(tmp_path / "c2")})
    assert (undeclared.status("Legacy:DV205"), undeclared.status("Modern:DV205")) == ("pass", "fail")
    assert "cp312-cp312-manylinux2014_x86_64" in undeclared.message("Modern:DV205")
