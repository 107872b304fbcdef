"""One clear name per concept: no two public classes of the shipped package share a name for different things.

Two `Platform`s (the wheel platform and the local Lambda service) and two `Worker`s (the probe's import worker and
the local event source) once meant a reader had to check the import to know which was meant.
"""

from __future__ import annotations

import ast
from collections import defaultdict

from tests.support.shipped import ROOT, shipped_modules


def public_classes() -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for _, path in shipped_modules():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found[node.name].append(path.relative_to(ROOT).as_posix())
    return found


def test_no_two_public_classes_share_a_name() -> None:
    shared = {name: places for name, places in public_classes().items() if len(places) > 1}
    assert shared == {}, "give each its own name"


def test_the_scan_sees_the_package() -> None:
    classes = public_classes()
    assert {"RunContext", "WheelPlatform", "ModuleImportWorker"} <= set(classes)
