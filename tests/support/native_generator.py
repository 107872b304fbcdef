"""fixtures/bad-bundles/make_native.py, loaded by path: `bad-bundles` is not an importable package name."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

GENERATOR = Path(__file__).resolve().parents[2] / "fixtures" / "bad-bundles" / "make_native.py"


def load_native_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_native", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
