"""DV222's engine: which imports of first-party code resolve against bundle, layers, standard library and runtime."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from deployverify.gate.probe.import_closure import closure_findings, unresolved_imports
from deployverify.gate.probe.imports import BundleIndex
from deployverify.gate.probe.interpreter_tests import branch_runs
from deployverify.gate.probe.stdlib import stdlib_names
from deployverify.lambda_image.runtimes import runtime_info

PY311 = runtime_info("python3.11")


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def dist_info(root: Path, name: str, version: str, top_level: str, record: list[str]) -> None:
    meta = root / f"{name}-{version}.dist-info"
    meta.mkdir(parents=True)
    (meta / "top_level.txt").write_text(top_level + "\n", encoding="utf-8")
    (meta / "RECORD").write_text("".join(f"{r},,\n" for r in record), encoding="utf-8")


def missing(bundle: Path, version: tuple[int, int] = (3, 11), layers: tuple[Path, ...] = ()) -> list[tuple[str, int]]:
    index = BundleIndex.from_bundle(bundle, layers)
    return [(m.missing, m.ref.line) for m in unresolved_imports(index, version, PY311.preinstalled_modules)]


APP_THAT_RESOLVES = """\
    import json
    import os.path
    import sys
    from typing import TYPE_CHECKING

    import boto3
    from botocore.exceptions import ClientError
    from pkg import helper_attr
    from pkg.sub import thing
    from six.moves import urllib
    from google.protobuf import message

    try:
        import ujson
    except ImportError:
        ujson = None

    if TYPE_CHECKING:
        from mypy_boto3_s3 import S3Client

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    if sys.platform == "win32":
        import winreg_helper_that_is_not_here


    def handler(event, context):
        from pkg import sub
        return json.dumps({"ok": True})
"""


@pytest.fixture
def resolving_bundle(tmp_path: Path) -> Path:
    bundle = write(tmp_path / "bundle", {
        "app.py": APP_THAT_RESOLVES,
        "pkg/__init__.py": "helper_attr = 1\n",
        "pkg/sub.py": "thing = 2\n",
        "six.py": "PY3 = True\n",
        "google/protobuf/__init__.py": "",
        "google/protobuf/message.py": "",
    })
    dist_info(bundle, "six", "1.16.0", "six", ["six.py"])
    dist_info(bundle, "protobuf", "5.0", "google", ["google/protobuf/__init__.py", "google/protobuf/message.py"])
    return bundle


def test_what_resolves_is_not_reported(resolving_bundle: Path) -> None:
    """Stdlib, preinstalled boto3, attributes, submodules, six.moves, namespace packages, guarded, TYPE_CHECKING
    and other-interpreter branches: none is a failure."""
    assert missing(resolving_bundle) == []


def test_the_other_interpreter_branch_counts_on_an_older_runtime(resolving_bundle: Path) -> None:
    assert missing(resolving_bundle, (3, 10)) == [("tomli", 24)]


# (first-party source, the unresolved module, its line)
FAILURES = [
    ("def render(event):\n    import yaml_missing_pkg\n    return yaml_missing_pkg.dump(event)\n",
     "yaml_missing_pkg", 2),
    ("from worker_tasks.src.models.worker_document import WorkerDocument\n", "worker_tasks", 1),
    ("from pkg.storage.s3_service import S3Service\n", "pkg.storage", 1),
    ("import pkg.sub.deeper\n", "pkg.sub.deeper", 1),
    ("from google.cloud import storage\n", "google.cloud", 1),
    ("try:\n    import fastjson\nexcept ValueError:\n    fastjson = None\n", "fastjson", 2),
]


@pytest.mark.parametrize(("source", "module", "line"), FAILURES)
def test_unresolved_imports_are_reported_with_their_line(tmp_path: Path, source: str, module: str, line: int) -> None:
    bundle = write(tmp_path / "bundle", {"app.py": source, "pkg/__init__.py": "", "pkg/sub.py": "",
                                         "google/protobuf/__init__.py": ""})
    dist_info(bundle, "protobuf", "5.0", "google", ["google/protobuf/__init__.py"])
    assert missing(bundle) == [(module, line)]


# (first-party source, what DV222 reports as (module, line)): imports the code expects may be missing
GUARDED = [
    # The except's fallback never runs while the try's import resolves (tomllib is stdlib on 3.11).
    ("try:\n    import tomllib\nexcept ModuleNotFoundError:\n    import tomli as tomllib\n", []),
    ("try:\n    import ujson as json\nexcept:  # noqa: E722\n    import json\n", []),
    ("try:\n    from yaml import CSafeLoader\nexcept (ImportError, AttributeError):\n    pass\n", []),
    # Both missing: the fallback is what runs, so it fails.
    ("try:\n    import ujson_gone\nexcept ImportError:\n    import simdjson_gone\n", [("simdjson_gone", 4)]),
    # A handler for another error is not a fallback.
    ("try:\n    import json\nexcept ValueError:\n    import json_gone\n", [("json_gone", 4)]),
    ("import importlib.util\nif importlib.util.find_spec('orjson') is not None:\n    import orjson\n", []),
    ("from importlib.util import find_spec\nif not find_spec('orjson'):\n    x = 1\nelse:\n    import orjson\n", []),
    ("import sys\nif sys.version_info < (3, 9):\n    import importlib_resources\n", []),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mypy_boto3_s3 import S3Client\n", []),
]


@pytest.mark.parametrize(("source", "reported"), GUARDED)
def test_guarded_imports_are_not_failures(tmp_path: Path, source: str, reported: list[tuple[str, int]]) -> None:
    assert missing(write(tmp_path / "bundle", {"app.py": source})) == reported


def test_guarded_absent_modules_are_evidence(tmp_path: Path) -> None:
    from deployverify.gate.probe.import_closure import guarded_missing

    bundle = write(tmp_path / "bundle", {"app.py": GUARDED[0][0] + GUARDED[5][0]})
    assert guarded_missing(BundleIndex.from_bundle(bundle), (3, 11), ()) == ["app.py:4 tomli", "app.py:7 orjson"]


def test_a_module_is_not_a_package(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle", {"app.py": "import helpers.io\n", "helpers.py": ""})
    index = BundleIndex.from_bundle(bundle)
    [item] = unresolved_imports(index, (3, 11), ())
    assert (item.missing, item.reason) == ("helpers.io", "`helpers` is a module (helpers.py), not a package")


def test_relative_import_beyond_the_top_level_package(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle", {"app.py": "from . import helpers\n", "helpers.py": "",
                                         "pkg/__init__.py": "", "pkg/mod.py": "from .. import helpers\n"})
    findings = closure_findings(BundleIndex.from_bundle(bundle), (3, 11), ())
    assert [(f.path, f.line) for f in findings] == [("app.py", 1), ("pkg/mod.py", 1)]
    assert "a relative import beyond the top-level package" in findings[0].message


def test_a_layer_provides_modules(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle", {"app.py": "import shared_layer_pkg.util\n"})
    layer = write(tmp_path / "layer", {"python/shared_layer_pkg/__init__.py": "",
                                       "python/shared_layer_pkg/util.py": ""})
    assert missing(bundle) == [("shared_layer_pkg", 1)]
    assert missing(bundle, layers=(layer,)) == []


def test_third_party_code_is_not_checked(tmp_path: Path) -> None:
    bundle = write(tmp_path / "bundle", {"app.py": "import requests\n",
                                         "requests/__init__.py": "import chardet_that_is_optional\n"})
    dist_info(bundle, "requests", "2.32.0", "requests", ["requests/__init__.py"])
    assert missing(bundle) == []


def test_finding_message_names_file_line_statement_and_fix(tmp_path: Path) -> None:
    source_root = write(tmp_path / "repo" / "apps" / "backend-api" / "src", {
        "shared/__init__.py": "", "shared/storage/__init__.py": "", "shared/storage/s3_service.py": ""})
    bundle = write(tmp_path / "bundle", {
        "handler.py": "def run():\n    from shared.storage.s3_service import S3Service\n",
        "shared/__init__.py": "", "shared/enums.py": ""})
    [finding] = closure_findings(BundleIndex.from_bundle(bundle), (3, 11), PY311.preinstalled_modules,
                                 (source_root,), display_base=tmp_path / "repo")
    assert (finding.rule, finding.path, finding.line) == ("DV222", "handler.py", 2)
    assert finding.message.startswith(
        "`shared.storage` imported at handler.py:2 (`from shared.storage.s3_service import S3Service`, inside a "
        "function: it fails only when that code runs) is not in the bundle, the standard library or the runtime; ")
    assert "apps/backend-api/src/shared/storage" in finding.message
    assert "`shared.storage` is not in the bundle;" not in finding.message  # said once, not twice


# (module, runtime Python, resolves?, phrase of the fix when it does not)
STDLIB_BY_VERSION = [
    ("distutils", (3, 11), True, ""),
    ("distutils", (3, 12), False, "`distutils` was removed from the standard library in Python 3.12"),
    ("imp", (3, 12), False, "importlib replaces imp"),
    ("asynchat", (3, 12), False, "removed from the standard library in Python 3.12"),
    ("asyncore", (3, 11), True, ""),
    ("cgi", (3, 12), True, ""),
    ("cgi", (3, 13), False, "PEP 594"),
    ("telnetlib", (3, 14), False, "removed from the standard library in Python 3.13"),
    ("tomllib", (3, 10), False, "`tomllib` joined the standard library in Python 3.11"),
    ("tomllib", (3, 11), True, ""),
    ("zoneinfo", (3, 8), False, "joined the standard library in Python 3.9"),
    ("graphlib", (3, 9), True, ""),
    ("binhex", (3, 10), True, ""),
    ("binhex", (3, 11), False, "removed from the standard library in Python 3.11"),
    ("annotationlib", (3, 13), False, "joined the standard library in Python 3.14"),
    ("annotationlib", (3, 14), True, ""),
]


@pytest.mark.parametrize(("module", "version", "resolves", "phrase"), STDLIB_BY_VERSION)
def test_standard_library_of_the_runtime_version(tmp_path: Path, module: str, version: tuple[int, int],
                                                 resolves: bool, phrase: str) -> None:
    bundle = write(tmp_path / "bundle", {"app.py": f"import {module}\n"})
    findings = closure_findings(BundleIndex.from_bundle(bundle), version, ())
    assert (not findings) is resolves
    if not resolves:
        assert phrase in findings[0].message


def test_stdlib_table_matches_this_interpreter() -> None:
    assert stdlib_names(sys.version_info[:2]) == frozenset(sys.stdlib_module_names)


@pytest.mark.parametrize(("test", "taken", "version", "runs"), [
    ("sys.version_info >= (3, 11)", True, (3, 11), True),
    ("sys.version_info >= (3, 11)", False, (3, 11), False),
    ("sys.version_info < (3, 9)", True, (3, 8), True),
    ("sys.version_info[:2] == (3, 12)", True, (3, 12), True),
    ("sys.version_info.minor >= 12", True, (3, 11), False),
    ("sys.platform == 'win32'", True, (3, 11), False),
    ("sys.platform.startswith('linux')", True, (3, 11), True),
    ("sys.platform != 'darwin' and sys.version_info >= (3, 10)", True, (3, 11), True),
    ("not sys.platform == 'win32'", True, (3, 11), True),
    ("sys.version_info >= (3, 11) or USE_TOMLI", True, (3, 10), True),  # unknown name: assume it runs
])
def test_interpreter_tests_are_evaluated_for_the_runtime(test: str, taken: bool, version: tuple[int, int],
                                                         runs: bool) -> None:
    assert branch_runs(test, taken, version) is runs
