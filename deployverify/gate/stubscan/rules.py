"""The stub scan's rule table (DV301-DV309): each rule a function over the handlers' call graphs.

The table is written out rather than filled by decorators at import time, so which rules run, and in which order
their findings are listed, is read here. Titles, messages and help texts live in deployverify/core/registry.py.
"""

from __future__ import annotations

from collections.abc import Iterable

from deployverify.core import registry
from deployverify.gate.stubscan import hygiene_rules, stub_rules, wiring_rules
from deployverify.gate.stubscan.findings import ScanFinding
from deployverify.gate.stubscan.rule_context import Rule, RuleContext

RULES: dict[str, Rule] = {
    "DV301": stub_rules.mock_named,
    "DV302": stub_rules.success_no_work,
    "DV303": stub_rules.placeholders,
    "DV304": hygiene_rules.test_doubles,
    "DV305": stub_rules.mock_toggles,
    "DV306": hygiene_rules.markers,
    "DV307": wiring_rules.orphans,
    "DV308": wiring_rules.required_reach,
    "DV309": hygiene_rules.reasonless_suppressions,
}
for _rule_id in RULES:
    registry.spec(_rule_id)  # an id missing from the registry fails at import, not in the middle of a scan


def run_rules(ctx: RuleContext, only: Iterable[str] | None = None) -> list[ScanFinding]:
    wanted = set(only) if only is not None else set(RULES)
    seen: set[tuple[str, str, int, str]] = set()
    found: list[ScanFinding] = []
    for rule_id, function in RULES.items():
        if rule_id not in wanted:
            continue
        for finding in function(ctx):
            if finding.key not in seen:
                seen.add(finding.key)
                found.append(finding)
    return found
