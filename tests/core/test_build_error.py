"""BuildError's quoted line: what failed, not whatever a builder printed last."""

from __future__ import annotations

import pytest

from deployverify.core.errors import BuildError, telling_line


@pytest.mark.parametrize(("tail", "line"), [
    ("Building codeuri: x\nError: CustomMakeBuilder:MakeBuild - Make Failed: boom\nmake: *** [Makefile:2: b] Error 1",
     "Error: CustomMakeBuilder:MakeBuild - Make Failed: boom"),
    ("Collecting x\nERROR: Could not find a version\nERROR: No matching distribution found for x\n\n",
     "ERROR: No matching distribution found for x"),
    ("Traceback (most recent call last):\n  File \"b.py\", line 1\nModuleNotFoundError: No module named 'x'",
     "ModuleNotFoundError: No module named 'x'"),
    ("Traceback (most recent call last):\n  File \"x.py\", line 3, in build\nTypeError: expected str, not NoneType\n"
     "\nAn unexpected error was encountered while executing \"sam build\".\nSearch for an existing issue:\n"
     "https://github.com/aws/aws-sam-cli/issues?q=is%3Aissue+Bug%3A%20sam%20build%20-%20TypeError",
     "TypeError: expected str, not NoneType"),
    ("", "(no output)"),
    ("an Error later in a sentence is no error line\nlast words", "last words"),
])
def test_the_telling_line_is_the_last_error_line_else_the_last_line(tail: str, line: str) -> None:
    assert telling_line(tail) == line


def test_a_builder_that_knows_the_cause_names_it() -> None:
    error = BuildError("x", tail="Error: sam says\nthe host lacks python3.13", cause="the host lacks python3.13")
    assert error.cause == "the host lacks python3.13"
    assert BuildError("x", tail="Error: sam says\nmore").cause == "Error: sam says"
