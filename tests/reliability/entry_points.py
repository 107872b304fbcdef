"""The entry points that read untrusted input, each with a Hypothesis strategy and the contract it must keep.

Shared by the CI fuzz tests (tests/reliability/test_fuzz_inputs.py, a few hundred cases each) and the bench
(bench/fuzz_inputs.py, >= 10,000 cases each). Every `check_*` function runs the real code on one input and raises
AssertionError when the contract is broken: the input is accepted, or refused with one DeployVerifyError subclass
carrying a one-line message. Anything else that escapes (RecursionError, ValueError, KeyError, ...) is a defect.
"""

from __future__ import annotations

import json
import re
import string
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from deployverify.core import redact, registry
from deployverify.core.errors import DeployVerifyError, HandlerError, SecretError, TargetError
from deployverify.core.handler import Handler, parse_handler
from deployverify.core.results import Finding, Result, RunReport, Severity, Status
from deployverify.pipeline.secrets import FetchedSecret, parse_secret_string, validate
from deployverify.sam.application import load_application
from deployverify.target import load_target
from deployverify.target.model import Secret

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_TARGET = (REPO / "examples" / "docworker" / "deployverify.yaml").read_text(encoding="utf-8")
EXAMPLE_TEMPLATE = (REPO / "examples" / "docworker" / "template.yaml").read_text(encoding="utf-8")
MINIMAL_TARGET = ("name: fuzz\nruntime: python3.11\nbundle: {output: bundle}\n"
                  "functions:\n  - {name: f, handler: app.handler, memory_mb: 128}\n")


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# The bad files and their relatives: each must be refused within a bound, with one line.
NASTY_YAML = {
    "alias bomb (9 levels of 9)": alias_bomb(),
    "5,000-deep nested list": "name: " + "[" * 5000 + "]" * 5000 + "\n",
    "5,000-deep nested mapping": "".join(f"{' ' * 0}{{k{i}: " for i in range(5000)) + "1" + "}" * 5000 + "\n",
    "recursive alias": "name: &a [*a]\n",
    "undefined alias": "name: *nowhere\n",
    "merge key": "base: &b {name: x}\nother:\n  <<: *b\n",
    "python tag": "name: !!python/object/apply:os.system ['true']\n",
    "impossible date": "name: 2024-13-45\n",
    "5,000-digit integer": "memory_mb: " + "9" * 5000 + "\n",
    "NUL byte": "name: a\x00b\n",
    "escaped NUL in a path": MINIMAL_TARGET.replace("output: bundle", 'output: "bun\\0dle"'),
    "only a scalar": "just text\n",
    "tab indentation": "name: x\n\tfunctions: []\n",
    "control characters": "name: \x1b[31mred\x1b[0m\r\x07\n",
}

# Text built from YAML's own punctuation finds parser corners faster than uniform Unicode.
_YAML_ALPHABET = st.sampled_from(list("{}[]:,-&*!|>'\"#%@`?\n\t ") + list("abc019.$_")
                                 + ["\x00", "\x1b", "\u2028", "\\0", "\\x1b", "../"])
_KEYS = st.sampled_from(["name", "runtime", "functions", "handler", "bundle", "output", "secrets", "pipeline",
                         "documents", "file", "Resources", "Type", "Properties", "Globals", "Function",
                         "AWS::Serverless::Function", "<<", "memory_mb", "environment"]) | st.text(max_size=12)
_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
            | st.sampled_from(["python3.11", "app.handler", "../../etc/passwd", "/abs/path", "${HOME}", "${X:-1}"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=25)


@st.composite
def _mutated(draw: st.DrawFn, base: str) -> str:
    """A real file with one slice replaced: mostly valid YAML that reaches deep into validation and building."""
    start = draw(st.integers(0, len(base)))
    end = draw(st.integers(start, min(len(base), start + 80)))
    return base[:start] + draw(_yaml_ish(30) | st.text(max_size=30)) + base[end:]


def _yaml_ish(size: int) -> st.SearchStrategy[str]:
    return st.lists(_YAML_ALPHABET, max_size=size).map("".join)


def yaml_texts(*bases: str) -> st.SearchStrategy[str]:
    dumped = _VALUES.map(lambda v: yaml.safe_dump(v, allow_unicode=True))
    return st.one_of(st.text(max_size=300), _yaml_ish(300), dumped,
                     *(_mutated(base) for base in bases), st.sampled_from(sorted(NASTY_YAML.values())))


def _one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text.strip(), f"{type(exc).__name__} with an empty message"
    assert "\n" not in text, f"message spans lines: {text!r}"
    assert "\r" not in text, f"message spans lines: {text!r}"


# -- target loader ----------------------------------------------------------------------------------------------------

TARGET_TEXTS = yaml_texts(MINIMAL_TARGET, EXAMPLE_TARGET)


def check_target_file(folder: Path, content: str | bytes) -> str:
    """Load `content` as a target file in `folder`: 'accepted' or 'refused' (TargetError), nothing else."""
    path = folder / "deployverify.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    try:
        load_target(path, env={"X": "1"})
    except TargetError as exc:
        _one_line(exc)
        return "refused"
    return "accepted"


# -- SAM template reader ----------------------------------------------------------------------------------------------

TEMPLATE_TEXTS = yaml_texts(EXAMPLE_TEMPLATE) | st.builds(
    lambda resources: yaml.safe_dump({"Resources": resources}), st.dictionaries(_KEYS, _VALUES, max_size=4))


def check_template_text(text: str) -> str:
    """The whole reader (YAML, Globals, intrinsics, functions, layers) on `text`, through a real file."""
    with tempfile.TemporaryDirectory() as folder:
        template = Path(folder) / "template.yaml"
        template.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            application = load_application(template)
        except DeployVerifyError as exc:
            _one_line(exc)
            return "refused"
    for function in application.functions:
        assert isinstance(function.logical_id, str)
    return "accepted"


# -- secret validator -------------------------------------------------------------------------------------------------

SECRET_SPEC = Secret(id="fuzz/database", name="database", required=("host", "port", "password", "database"),
                     aliases={"database": ("dbname", "db_name")}, types={"host": "string", "port": "integer"})
MARKER = "dvfuzzmarker"  # part of every generated value: no message may quote it
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20).map(
    lambda t: MARKER + t), lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["host", "port", "password", "database", "dbname", "user"]) | st.text(max_size=8), inner,
    max_size=5), max_leaves=20)
SECRET_STRINGS = st.one_of(_JSON.map(json.dumps), st.text(max_size=200).map(lambda t: MARKER + t),
                           st.sampled_from(["[" * 10000, "{\"a\":" * 5000, "1" * 5000, "{\"port\": " + "9" * 5000 + "}",
                                            "", "null", "NaN", "{\"password\": \"" + MARKER + "\"}"]))


def check_secret_string(raw: str) -> str:
    with redact.registrations_undone():  # thousands of throwaway values must not pile up in the redaction pattern
        try:
            secret: FetchedSecret = parse_secret_string(SECRET_SPEC, raw)
        except SecretError as exc:
            refusal = exc
        else:
            refusal = None
        if refusal is not None:
            _one_line(refusal)
            assert MARKER not in str(refusal), f"the message quotes the secret: {refusal}"
            return "refused"
        problems = validate(secret)
        for problem in problems:
            said = f"{problem.key} {problem.problem} {problem.fix}"
            assert MARKER not in said, f"a problem quotes a value: {problem}"
        return "problems" if problems else "accepted"


# -- handler parser ---------------------------------------------------------------------------------------------------

HANDLER_STRINGS = st.text(max_size=60) | st.text(st.sampled_from(list("./_-:\\ a1\x00")), max_size=20) | st.from_regex(
    r"[a-z_/.]{0,12}\.[a-z_]{0,8}", fullmatch=True)


def check_handler(raw: str) -> str:
    try:
        handler: Handler = parse_handler(raw)
    except HandlerError as exc:
        _one_line(exc)
        return "refused"
    assert handler.module_name
    assert handler.function
    assert f"{handler.module_name}.{handler.function}" == raw
    handler.candidate_files()
    return "accepted"


# -- report renderers -------------------------------------------------------------------------------------------------

HOSTILE = ["\x1b[31m", "\x1b[2J", "\x1b]0;owned\x07", "\x1b]8;;http://x\x1b\\", "\r", "\x07", "\x00", "\x9b31m",
           "\u202e", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "|", "`", "\n", "%0A", "::error::"]
_HOSTILE_TEXT = st.lists(st.sampled_from(HOSTILE) | st.text(max_size=15), max_size=8).map("".join)
# Control characters (other than newline and tab) that must never reach a terminal, a Markdown table or XML.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_IDS = sorted(registry.CHECKS)


@st.composite
def run_reports(draw: st.DrawFn) -> RunReport:
    checks = []
    for check_id in draw(st.lists(st.sampled_from(_IDS), min_size=1, max_size=4, unique=True)):
        findings = [Finding(rule=draw(st.sampled_from(_IDS)), path=draw(_HOSTILE_TEXT), line=draw(st.integers(-1, 9)),
                            message=draw(_HOSTILE_TEXT), severity=draw(st.sampled_from(list(Severity))),
                            call_path=tuple(draw(st.lists(_HOSTILE_TEXT, max_size=3))))
                    for _ in range(draw(st.integers(0, 2)))]
        checks.append(Result(id=check_id, title=registry.spec(check_id).title,
                             status=draw(st.sampled_from(list(Status))), duration_s=0.5,
                             message=draw(_HOSTILE_TEXT), evidence=draw(st.lists(_HOSTILE_TEXT, max_size=3)),
                             findings=findings))
    return RunReport(run_id=draw(st.text(string.ascii_lowercase + "-", min_size=1, max_size=12)),
                     target=draw(_HOSTILE_TEXT), mode="gate", started_at="2026-01-01T00:00:00Z",
                     finished_at="2026-01-01T00:00:01Z", checks=checks)


def check_renderers(run: RunReport) -> str:
    from deployverify.reports.annotations import run_annotations
    from deployverify.reports.html import render_html
    from deployverify.reports.json_report import render_json
    from deployverify.reports.junit import render_junit
    from deployverify.reports.markdown import render_markdown
    from deployverify.reports.sarif import render_sarif
    from deployverify.reports.terminal import summary_lines

    printed: dict[str, str] = {"terminal": "\n".join(summary_lines(run)), "markdown": render_markdown(run),
                               "annotations": "\n".join(run_annotations(run)), "junit": render_junit(run)}
    for kind, text in printed.items():
        found = CONTROL.search(text)
        assert found is None, f"{kind} output carries control character {found[0]!r}" if found else ""
    ET.fromstring(printed["junit"].split("\n", 1)[1])  # well-formed XML, whatever the evidence held
    html = render_html(run)
    for payload in ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>"):
        assert payload not in html, f"report.html carries {payload!r} unescaped"
    for row in _table_rows(printed["markdown"]):
        assert len(row.replace("\\|", "").strip().strip("|").split("|")) == 4, f"a value split the row: {row!r}"
    json.loads(render_json(run))
    json.loads(render_sarif(run))
    return "rendered"


def _table_rows(markdown: str) -> list[str]:
    """The check table's rows (each starts with the check id in backticks)."""
    return [line for line in markdown.splitlines() if line.startswith("| `DV")]


ENTRY_POINTS: dict[str, tuple[st.SearchStrategy[Any], Any]] = {
    "handler parser": (HANDLER_STRINGS, check_handler),
    "secret validator": (SECRET_STRINGS, check_secret_string),
    "SAM template reader": (TEMPLATE_TEXTS, check_template_text),
    "report renderers": (run_reports(), check_renderers),
}
