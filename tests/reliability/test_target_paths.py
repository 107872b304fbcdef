"""Paths and keys in a target file that would send or touch something outside the project are refused.

Fixture documents and seed SQL are uploaded to the bucket or run against the database: inside a repository they
must resolve inside it. pipeline.key_prefix becomes part of every S3 key the run writes: no `..`, no leading `/`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deployverify.core.errors import TargetError
from deployverify.target import load_target

PIPELINE = """name: paths
runtime: python3.11
bundle: {{output: bundle}}
functions:
  - {{name: f, handler: app.handler}}
pipeline:
  bucket: b
  key_prefix: {prefix}
  trigger: {{type: sqs, queue: q}}
  documents:
    - file: {document}
"""


def project(tmp_path: Path, *, repository: bool = True) -> Path:
    """A target folder `project/config` with a fixture in `project/fixtures`, optionally a git work tree."""
    root = tmp_path / "project"
    (root / "config").mkdir(parents=True)
    (root / "fixtures").mkdir()
    (root / "fixtures" / "doc.pdf").write_bytes(b"%PDF-1.4\n")
    if repository:
        (root / ".git").mkdir()
    (tmp_path / "outside.pdf").write_bytes(b"secret")
    return root / "config" / "deployverify.yaml"


def load(config: Path, document: str, prefix: str = "deployverify") -> None:
    config.write_text(PIPELINE.format(document=document, prefix=prefix), encoding="utf-8")
    load_target(config)


def test_a_fixture_inside_the_repository_is_accepted(tmp_path: Path) -> None:
    load(project(tmp_path), "../fixtures/doc.pdf")


@pytest.mark.parametrize("document", ["../../outside.pdf", "{outside}"])
def test_a_fixture_outside_the_repository_is_refused(tmp_path: Path, document: str) -> None:
    config = project(tmp_path)
    with pytest.raises(TargetError, match="outside the repository") as refused:
        load(config, document.format(outside=tmp_path / "outside.pdf"))
    assert "pipeline.documents[0].file" in str(refused.value)


def test_outside_any_repository_there_is_no_boundary(tmp_path: Path) -> None:
    """A generated target in a temporary folder may name fixtures anywhere: there is no project to hold it to."""
    load(project(tmp_path, repository=False), str(tmp_path / "outside.pdf"))


@pytest.mark.parametrize("prefix", ["../escape", "a/../../b", "/absolute", "'back\\\\slash'", '"tab\\there"'])
def test_an_unsafe_s3_key_prefix_is_refused(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(TargetError, match="is not a safe S3 key prefix") as refused:
        load(project(tmp_path), "../fixtures/doc.pdf", prefix)
    assert "pipeline.key_prefix" in str(refused.value)


def test_a_nul_character_in_a_path_is_refused_where_it_is(tmp_path: Path) -> None:
    config = project(tmp_path)
    with pytest.raises(TargetError, match=r"NUL character .* not allowed") as refused:
        load(config, '"../fixtures/doc\\0.pdf"')
    assert "deployverify.yaml:11 pipeline.documents[0].file" in str(refused.value)
