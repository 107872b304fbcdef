"""Suppressions: inline `# deployverify: allow DV3nn reason="..."`, the target's `scan.allow` list, and a baseline.

An inline suppression covers findings on its own line, or, when the comment stands alone on its line, on the next
code line (a `def` under it, say). One without a reason suppresses nothing and is itself a finding (DV309).
A baseline (`deployverify baseline`) lists accepted findings by fingerprint: rule, file, subject and message with
line numbers removed, so moving code does not resurrect them but changing what it reaches does.
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from deployverify.core.errors import DeployVerifyError
from deployverify.target.model import Allow

_ALLOW = re.compile(r"#\s*deployverify\s*:\s*allow\s+(?P<rules>DV\d{3}(?:\s*,\s*DV\d{3})*)"
                    r"(?:\s+reason\s*=\s*(?P<q>[\"'])(?P<reason>.*?)(?P=q))?", re.IGNORECASE)
BASELINE_VERSION = 1


@dataclass(frozen=True)
class InlineAllow:
    line: int  # the comment's line
    applies_to: tuple[int, ...]  # lines whose findings it covers
    rules: tuple[str, ...]
    reason: str


@cache
def comments(source: bytes) -> tuple[tuple[int, str, bool], ...]:
    """(line, text, stands alone on its line) of every comment; tokenize ignores `#` inside strings."""
    out: list[tuple[int, str, bool]] = []
    try:
        for token in tokenize.tokenize(io.BytesIO(source).readline):
            if token.type == tokenize.COMMENT:
                alone = not token.line[: token.start[1]].strip()
                out.append((token.start[0], token.string, alone))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        pass
    return tuple(out)


def inline_allows(source: bytes) -> list[InlineAllow]:
    if b"deployverify" not in source:
        return []
    lines = source.decode("utf-8", errors="replace").splitlines()
    found = []
    for line, text, alone in comments(source):
        match = _ALLOW.search(text)
        if not match:
            continue
        rules = tuple(r.strip().upper() for r in match["rules"].split(","))
        covered = [line]
        if alone:
            following = line
            while following < len(lines):
                following += 1
                stripped = lines[following - 1].strip()
                if stripped and not stripped.startswith("#"):
                    covered.append(following)
                    break
        found.append(InlineAllow(line, tuple(covered), rules, (match["reason"] or "").strip()))
    return found


def allow_matches(allow: Allow, rule: str, path: str, subject: str) -> bool:
    if allow.rule.upper() != rule:
        return False
    if allow.path and not (fnmatch.fnmatch(path, allow.path) or fnmatch.fnmatch(path, f"*/{allow.path}")
                           or path == allow.path):
        return False
    return not (allow.name and not (fnmatch.fnmatch(subject, allow.name)
                                    or fnmatch.fnmatch(subject.rpartition(".")[2], allow.name)))


def normalise_message(message: str) -> str:
    """The message without line numbers (`file.py:12`), so a baseline survives edits that only move code."""
    return re.sub(r"(\.py):\d+", r"\1", message)


@dataclass(frozen=True)
class BaselineEntry:
    rule: str
    path: str
    subject: str
    fingerprint: str


def read_baseline(path: Path) -> frozenset[str]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeployVerifyError("baseline file does not exist; write it with `deployverify baseline`",
                                where=str(path)) from None
    except (OSError, ValueError) as exc:
        raise DeployVerifyError(f"baseline is not readable JSON: {exc}", where=str(path)) from None
    if not isinstance(data, dict) or data.get("version") != BASELINE_VERSION or not isinstance(
            data.get("findings"), list):
        raise DeployVerifyError(f"not a deployverify baseline (expected version {BASELINE_VERSION} and a findings "
                                "list); regenerate it with `deployverify baseline`", where=str(path))
    return frozenset(str(item.get("fingerprint", "")) for item in data["findings"] if isinstance(item, dict))


def write_baseline(path: Path, entries: Iterable[BaselineEntry]) -> int:
    rows = sorted({(e.rule, e.path, e.subject, e.fingerprint) for e in entries})
    payload = {"version": BASELINE_VERSION, "tool": "deployverify",
               "findings": [{"rule": r, "path": p, "subject": s, "fingerprint": f} for r, p, s, f in rows]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return len(rows)


def allowed_by(allows: Sequence[Allow], rule: str, path: str, subject: str) -> Allow | None:
    return next((a for a in allows if allow_matches(a, rule, path, subject)), None)
