"""suggest_for_missing: the fix named for a module that cannot be found."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployverify.gate.probe.imports import BundleIndex
from deployverify.gate.probe.suggest import suggest_for_missing


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files = {
        "apps/worker/src/handler.py": "from worker_tasks.src.models.doc import Doc\nfrom shared.storage import s3\n",
        "apps/worker/src/models/__init__.py": "",
        "apps/worker/src/models/doc.py": "class Doc: ...\n",
        "apps/api/src/shared/__init__.py": "",
        "apps/api/src/shared/storage/__init__.py": "",
        "apps/api/src/shared/storage/s3.py": "",
        "build/bundle/handler.py": "from worker_tasks.src.models.doc import Doc\nfrom shared.storage import s3\n",
        "build/bundle/models/__init__.py": "",
        "build/bundle/models/doc.py": "class Doc: ...\n",
        "build/bundle/shared/__init__.py": "",
        "build/bundle/vendored/__init__.py": "from vendored._speedups import go\n",
        "build/bundle/vendored/_speedups.cpython-312-x86_64-linux-gnu.so": "",
        "build/bundle/vendored-1.0.dist-info/top_level.txt": "vendored\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(("module", "line", "phrases"), [
    ("worker_tasks", 1, ["the bundle has `models/doc.py`", "the import should be `models.doc`"]),
    ("shared.storage", 2, ["the source tree has it at apps/api/src/shared/storage", "the build does not copy it",
                           "copy apps/api/src/shared into the bundle root"]),
    ("vendored._speedups", None, ["only has _speedups.cpython-312-x86_64-linux-gnu.so", "install `vendored`",
                                  "--python-version 3.11"]),
    ("requests", None, ["add `requests` to the build's requirements"]),
])
def test_suggestion(repo: Path, module: str, line: int | None, phrases: list[str]) -> None:
    bundle = repo / "build" / "bundle"
    index = BundleIndex.from_bundle(bundle)
    text = suggest_for_missing(module, "/var/task/handler.py" if line else None, index, [repo], line=line,
                               display_base=repo)
    for phrase in phrases:
        assert phrase in text, text
