"""The check table: ids unique and well formed, every id implemented by exactly one check, docs generated from code."""

from __future__ import annotations

import string
from collections import Counter
from pathlib import Path

import pytest

from deployverify.commands.check_sources import Implementation, implementations, proving_tests
from deployverify.commands.docs import checks_markdown
from deployverify.core.registry import _TABLE, BANDS, CHECKS, ID_PATTERN

ROOT = Path(__file__).resolve().parents[2]


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


def implemented_ids(found: list[Implementation]) -> tuple[list[str], list[str]]:
    """(ids with more than one @check function, registered ids with none)."""
    counts = Counter(i.check_id for i in found)
    return sorted(i for i, n in counts.items() if n > 1), sorted(set(CHECKS) - set(counts))


def test_every_registered_check_is_implemented_exactly_once() -> None:
    found = list(implementations())
    twice, missing = implemented_ids(found)
    where = {i: [f"{x.file}::{x.function}" for x in found if x.check_id == i] for i in twice}
    assert where == {}, "a check id implemented by more than one @check function"
    assert missing == [], "registered but no @check function in checks/ or smoke/"


def test_the_once_rule_sees_a_second_implementation_and_a_missing_one() -> None:
    found = list(implementations())
    first = found[0]
    twice, missing = implemented_ids([*found[1:], first, first])
    assert twice == [first.check_id]
    assert missing == []
    assert implemented_ids([i for i in found if i.check_id != first.check_id]) == ([], [first.check_id])


def test_every_check_has_a_docstring() -> None:
    assert sorted(i.check_id for i in implementations() if not i.docstring) == []


def test_engine_modules_follow_helpers_and_fixtures() -> None:
    """DV603 reaches code_identity through its body and configuration through the `_present` helper; DV201 reaches
    the native engine through its `native_report` fixture in checks/conftest.py."""
    by_id = {i.check_id: i for i in implementations()}
    assert {"deployverify.deployed.code_identity", "deployverify.deployed.configuration"} <= set(
        by_id["DV603"].engine_modules)
    assert "deployverify.gate.native.native" in by_id["DV201"].engine_modules
    assert by_id["DV210"].engine_modules == ("deployverify.gate.handler_check",)


def test_outcome_markers_name_registered_checks_and_outcomes() -> None:
    claims = proving_tests(ROOT / "tests")
    assert claims, "no test carries @pytest.mark.dv_outcomes"
    assert sorted(k for k in claims if k[0] not in CHECKS or k[1] not in ("pass", "fail")) == []


def unproven_outcomes(claims: dict[tuple[str, str], list[str]]) -> dict[str, list[str]]:
    """Check id -> the outcomes ("fail", "pass") no marked test shows, for every registered id."""
    missing = {check_id: [o for o in ("fail", "pass") if (check_id, o) not in claims] for check_id in CHECKS}
    return {check_id: outcomes for check_id, outcomes in missing.items() if outcomes}


def test_every_check_has_a_test_where_it_fails_and_one_where_it_passes() -> None:
    """Issue 14 item 7: a check nobody has seen fail may be unable to; one nobody has seen pass may never pass.
    The markers' claims are themselves checked by tests/conftest.py when the marked tests run."""
    assert unproven_outcomes(proving_tests(ROOT / "tests")) == {}, (
        "mark a test that runs the check with @pytest.mark.dv_outcomes('DVnnn:fail') / ('DVnnn:pass')")


def test_the_outcome_rule_names_an_id_missing_either_outcome() -> None:
    first, second = list(CHECKS)[:2]
    every = {(check_id, outcome): ["tests/x.py::test_x"] for check_id in CHECKS for outcome in ("fail", "pass")}
    assert unproven_outcomes(every) == {}
    without = {key: tests for key, tests in every.items()
               if key not in ((first, "fail"), (second, "fail"), (second, "pass"))}
    assert unproven_outcomes(without) == {first: ["fail"], second: ["fail", "pass"]}


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
