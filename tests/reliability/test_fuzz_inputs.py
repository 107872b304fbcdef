"""Bad input, item 4 of issue 14: every entry point that reads untrusted input, fuzzed through the real code.

Any input is accepted or refused with one DeployVerifyError line; the CLI exits 2 without a traceback. The issue's
bad files (alias bomb, 5,000-deep nesting, huge file) are refused by a bound, named in the message. Log lines and
evidence holding HTML or terminal escape sequences render inert. The CI profile runs 200 cases per entry point;
bench/fuzz_inputs.py runs >= 10,000.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from deployverify.core.errors import DeployVerifyError, TargetError
from deployverify.core.inert import inert
from deployverify.core.yaml_limits import MAX_BYTES
from deployverify.sam.reader import parse_template, read_template
from deployverify.target import load_target
from tests.reliability.entry_points import (
    HANDLER_STRINGS,
    HOSTILE,
    MINIMAL_TARGET,
    NASTY_YAML,
    SECRET_STRINGS,
    TARGET_TEXTS,
    TEMPLATE_TEXTS,
    check_handler,
    check_renderers,
    check_secret_string,
    check_target_file,
    check_template_text,
    run_reports,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@given(content=TARGET_TEXTS | st.binary(max_size=200))
def test_target_loader_accepts_or_refuses_with_one_line(scratch: Path, content: str | bytes) -> None:
    check_target_file(scratch, content)


@given(text=TEMPLATE_TEXTS)
def test_sam_reader_accepts_or_refuses_with_one_line(text: str) -> None:
    check_template_text(text)


@given(raw=SECRET_STRINGS)
def test_secret_validator_refuses_without_quoting_values(raw: str) -> None:
    check_secret_string(raw)


@given(raw=HANDLER_STRINGS)
@example("app.handler")
@example(".")
@example("a..b.c")
def test_handler_parser_accepts_or_refuses_with_one_line(raw: str) -> None:
    check_handler(raw)


@given(run=run_reports())
def test_renderers_keep_hostile_text_inert(run: object) -> None:
    check_renderers(run)  # type: ignore[arg-type]


# -- the bad files, each refused by a named bound -------------------------------------------------------------

@pytest.mark.parametrize(("name", "phrase"), [
    ("alias bomb (9 levels of 9)", "once aliases (*name) are followed"),
    ("5,000-deep nested list", "nested more than 64 levels deep"),
    ("5,000-deep nested mapping", "nested more than 64 levels deep"),
    ("recursive alias", "recursive alias"),
])
def test_bad_yaml_is_refused_by_a_bound(tmp_path: Path, name: str, phrase: str) -> None:
    path = tmp_path / "deployverify.yaml"
    path.write_text(NASTY_YAML[name], encoding="utf-8")
    with pytest.raises(TargetError, match="refused") as target_error:
        load_target(path)
    assert phrase in str(target_error.value)
    with pytest.raises(DeployVerifyError, match="refused") as template_error:
        parse_template(NASTY_YAML[name], "template.yaml")
    assert phrase in str(template_error.value)


def test_a_file_over_the_size_bound_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "deployverify.yaml"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(MINIMAL_TARGET)
        handle.write("# padding\n" * (MAX_BYTES // 10 + 1))
    with pytest.raises(TargetError, match=f"more than the {MAX_BYTES} bytes deployverify reads"):
        load_target(path)
    template = tmp_path / "template.yaml"
    template.write_bytes(path.read_bytes())
    with pytest.raises(DeployVerifyError, match=f"more than the {MAX_BYTES} bytes"):
        read_template(template)


@pytest.mark.parametrize("name", sorted(NASTY_YAML))
def test_cli_refuses_bad_target_files_with_exit_2_and_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / "deployverify.yaml"
    path.write_text(NASTY_YAML[name], encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "gate", "-c", str(path), "--report-dir",
                           str(tmp_path / "report")], capture_output=True, text=True, timeout=120, cwd=REPO,
                          check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("deployverify: error: "), done.stderr


def test_inert_removes_escape_sequences_and_shows_other_controls() -> None:
    assert inert("\x1b[31mFAIL\x1b[0m\rPASS\x07 \u202eevil") == "FAIL\\x0dPASS\\x07 \\u202eevil"
    assert inert("keeps\nlines\tand tabs") == "keeps\nlines\tand tabs"
    assert all("\x1b" not in inert(text) for text in HOSTILE)
