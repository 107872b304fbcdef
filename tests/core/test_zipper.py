"""The deterministic bundle zip: same files, same bytes, same CodeSha256, whatever the timestamps or walk order."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from pathlib import Path

from deployverify.core.zipper import code_sha256, content_digest, zip_bundle, zip_to_file


def make_bundle(root: Path) -> Path:
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    (root / "pkg" / "stale.pyc").write_bytes(b"junk")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\n")
    os.chmod(root / "bin" / "tool", 0o700)
    return root


def test_the_same_files_give_the_same_bytes_whatever_their_times(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    first = zip_bundle(bundle)
    os.utime(bundle / "app.py", (1_000_000_000, 1_000_000_000))
    assert zip_bundle(bundle) == first
    assert zip_to_file(bundle, tmp_path / "out" / "b.zip").read_bytes() == first
    assert code_sha256(first) == base64.b64encode(hashlib.sha256(first).digest()).decode()


def test_entries_are_sorted_normalised_and_without_bytecode(tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(zip_bundle(make_bundle(tmp_path / "b")))) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["app.py", "bin/tool", "pkg/__init__.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert [(i.external_attr >> 16) & 0o777 for i in infos] == [0o644, 0o755, 0o644]


def test_a_changed_file_changes_the_hash_and_digest(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b")
    before = (code_sha256(zip_bundle(bundle)), content_digest(bundle))
    (bundle / "app.py").write_text("def handler(e, c):\n    return 2\n")
    after = (code_sha256(zip_bundle(bundle)), content_digest(bundle))
    assert before[0] != after[0]
    assert before[1] != after[1]
