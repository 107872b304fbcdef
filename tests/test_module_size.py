"""No module the package ships is over MAX_LINES: a longer one holds more than one idea and gets split."""

from __future__ import annotations

from tests.support.shipped import ROOT, shipped_modules

MAX_LINES = 400

# Over the limit today and being split by other branches: the merge of each split removes its line here.
BEING_SPLIT: frozenset[str] = frozenset()


def line_counts() -> dict[str, int]:
    return {path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
            for _, path in shipped_modules()}


def test_no_shipped_module_is_over_the_limit() -> None:
    too_long = {name: lines for name, lines in line_counts().items()
                if lines > MAX_LINES and name not in BEING_SPLIT}
    assert too_long == {}, f"modules over {MAX_LINES} lines: split them"


def test_the_allow_list_names_only_files_still_over_the_limit() -> None:
    """A split that landed takes its line out of BEING_SPLIT, so the list empties as the work finishes."""
    counts = line_counts()
    assert sorted(name for name in BEING_SPLIT if counts.get(name, 0) <= MAX_LINES) == []
