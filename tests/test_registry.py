"""The check table: ids unique and well formed, every id implemented by exactly one check, docs generated from code."""

from __future__ import annotations

import string
from collections import Counter
from pathlib import Path

import pytest

from deployverify.commands.docs import check_docstrings, checks_markdown
from deployverify.core.registry import _TABLE, BANDS, CHECKS, ID_PATTERN

ROOT = Path(__file__).resolve().parents[1]


def test_ids_are_unique_and_well_formed() -> None:
    ids = [spec.id for spec in _TABLE]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert [i for i in ids if not ID_PATTERN.match(i)] == []
    assert all(spec.id[2] in BANDS for spec in _TABLE)


@pytest.mark.parametrize("spec", _TABLE, ids=[s.id for s in _TABLE])
def test_template_is_one_line_and_quotes_values(spec: object) -> None:
    template = spec.template  # type: ignore[attr-defined]
    fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    assert "\n" not in template
    assert spec.title
    assert fields, f"{spec.id}: a message must quote the offending value"  # type: ignore[attr-defined]
    assert spec.message(**{name: "X" for name in fields})  # type: ignore[attr-defined]


def test_every_registered_check_is_implemented_once() -> None:
    implemented = check_docstrings()
    missing = sorted(set(CHECKS) - set(implemented))
    assert missing == [], f"registered but no @check function in checks/ or smoke/: {missing}"


def test_every_check_has_a_docstring() -> None:
    assert sorted(i for i, (_, doc) in check_docstrings().items() if not doc) == []


def test_docs_checks_md_is_generated_from_code() -> None:
    committed = (ROOT / "docs" / "checks.md").read_text(encoding="utf-8")
    assert committed == checks_markdown(), (
        "docs/checks.md is stale: python -m deployverify.commands.docs > docs/checks.md")


def test_every_stub_scan_id_has_a_rule_and_its_help_text() -> None:
    # SARIF describes each DV3xx rule to code scanning with this help; without it, it would fall back to the title.
    from deployverify.gate.stubscan.rules import RULES

    stub_scan = [spec for spec in _TABLE if spec.id.startswith("DV3")]
    assert list(RULES) == [spec.id for spec in stub_scan]
    assert [spec.id for spec in stub_scan if not spec.help or spec.help == spec.title] == []
