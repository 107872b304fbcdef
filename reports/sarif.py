"""scan.sarif: the stub scan's findings as SARIF 2.1.0, ready for GitHub code scanning (`upload-sarif`).

Every DV3xx rule is described (id, name, short and full description, help text and markdown, default level) even
when the run found nothing, so code scanning can close alerts that were fixed. Each result carries the handler's
call path in its message and in `properties.callPath`, and a fingerprint that survives moving code around.
Paths are repository-relative when the finding's file is under the working folder (as in a GitHub Actions job).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from deployverify import __version__
from deployverify.core import registry
from deployverify.core.results import Finding, RunReport, Severity

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def _rule_name(title: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in title.replace("/", " ").replace("-", " ").split()
                   if word.isalnum())


def rule_descriptors() -> list[dict[str, Any]]:
    rules = []
    for spec in registry.CHECKS.values():
        if not spec.id.startswith("DV3"):
            continue
        text = spec.help or spec.title
        level = "warning" if spec.id == "DV306" else "error"
        rules.append({
            "id": spec.id,
            "name": _rule_name(spec.title),
            "shortDescription": {"text": spec.title},
            "fullDescription": {"text": text},
            "help": {"text": text, "markdown": f"**{spec.id} {spec.title}**\n\n{text}\n\n"
                                                  f"Suppress one finding with `# deployverify: allow {spec.id} "
                                                  f"reason=\"why it is safe\"` on its line."},
            "defaultConfiguration": {"level": level},
            "properties": {"tags": ["deployverify", "stub-scan", "correctness"], "precision": "high"},
        })
    return rules


def _uri(path: str) -> dict[str, str]:
    posix = PurePosixPath(path.replace("\\", "/"))
    if posix.is_absolute():
        return {"uri": "file://" + quote(str(posix))}
    return {"uri": quote(str(posix)), "uriBaseId": "%SRCROOT%"}


def _result(finding: Finding, rule_index: dict[str, int]) -> dict[str, Any]:
    text = finding.message
    if finding.call_path and " → ".join(finding.call_path) not in text:
        text += f" (call path: {' → '.join(finding.call_path)})"
    fingerprint = hashlib.sha256("|".join((finding.rule, finding.path, finding.message)).encode()).hexdigest()
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "level": _LEVELS[finding.severity],
        "message": {"text": text},
        "locations": [{"physicalLocation": {"artifactLocation": _uri(finding.path),
                                            "region": {"startLine": max(1, finding.line)}}}],
        "partialFingerprints": {"deployverifyFinding/v1": fingerprint[:32]},
    }
    if finding.rule in rule_index:
        result["ruleIndex"] = rule_index[finding.rule]
    if finding.call_path:
        result["properties"] = {"callPath": list(finding.call_path)}
    return result


def sarif_log(findings: Iterable[Finding]) -> dict[str, Any]:
    rules = rule_descriptors()
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": "deployverify", "version": __version__, "semanticVersion": __version__,
                                "rules": rules}},
            "results": [_result(f, index) for f in findings],
            "columnKind": "unicodeCodePoints",
        }],
    }


def render_sarif_findings(findings: Iterable[Finding]) -> str:
    return json.dumps(sarif_log(findings), indent=2, ensure_ascii=False) + "\n"


def render_sarif(run: RunReport) -> str:
    """The run's stub-scan findings (DV3xx checks) as one SARIF log."""
    findings = [f for result in sorted(run.checks, key=lambda r: r.id) if result.id.startswith("DV3")
                for f in result.findings]
    return render_sarif_findings(findings)
