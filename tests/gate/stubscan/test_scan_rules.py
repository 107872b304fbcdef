"""The call graph's resolution and each DV3xx rule on small trees, including what must NOT be reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployverify.core.results import Severity
from deployverify.gate.stubscan.scan import ScanSettings
from deployverify.gate.stubscan.stubs import mock_word_in
from deployverify.gate.stubscan.toggles import is_toggle_name
from tests.support.scan_helpers import only, scan_tree, write_tree


@pytest.mark.parametrize(("name", "word"), [
    ("process_document_mock", "mock"), ("MockProcessor", "mock"), ("FakeS3Client", "fake"),
    ("stub_worker", "stub"), ("dummy_pdf_handler", "dummy"), ("placeholder_classify", "placeholder"),
    ("HTTPStub", "stub"), ("mock_free_parse", None), ("no_mock_upload", None), ("unmocked_fetch", None),
    ("MockingbirdClassifier", None), ("stubborn_retry", None), ("process_document", None),
])
def test_mock_word_is_a_whole_word_and_not_negated(name: str, word: str | None) -> None:
    assert mock_word_in(name) == word


@pytest.mark.parametrize(("name", "toggle"), [
    ("USE_MOCK", True), ("MOCK", True), ("DRY_RUN", True), ("dryRun", True), ("use_stub_ocr", True),
    ("FAKE_PAYMENTS", True), ("STAGE", False), ("LOG_LEVEL", False), ("DRYER_RUNTIME", False),
])
def test_toggle_names(name: str, toggle: bool) -> None:
    assert is_toggle_name(name) is toggle


RESOLUTION_CASES = {
    "factory returning an instance": ({
        "app.py": """
            from processors import get_processor

            def handler(event, context):
                return get_processor().process(event)
            """,
        "processors.py": """
            class MockProcessor:
                def process(self, event):
                    return {"n": len(event)}

            def get_processor():
                return MockProcessor()
            """}, ("handler", "get_processor", "MockProcessor.process")),
    "module alias": ({
        "app.py": """
            import helpers.mocks as m

            def handler(event, context):
                return m.run(event)
            """,
        "helpers/__init__.py": "",
        "helpers/mocks.py": "def run(event):\n    return len(event)\n"}, ("handler", "run")),
    "relative import in a package": ({
        "pkg/__init__.py": "",
        "pkg/app.py": """
            from .impl import fake_work

            def handler(event, context):
                return fake_work(event)
            """,
        "pkg/impl.py": "def fake_work(event):\n    return len(event)\n"}, ("handler", "fake_work")),
    "attribute set in __init__": ({
        "app.py": """
            from store import Service

            def handler(event, context):
                return Service().save(event)
            """,
        "store.py": """
            class StubStore:
                def put(self, item):
                    return len(item)

            class Service:
                def __init__(self):
                    self.store = StubStore()

                def save(self, item):
                    return self.store.put(item)
            """}, ("handler", "Service", "Service.__init__", "StubStore.put")),  # through where it was made
    "parameter annotation": ({
        "app.py": """
            from store import FakeStore, save

            def handler(event, context):
                return save(None, event)
            """,
        "store.py": """
            class FakeStore:
                def put(self, item):
                    return len(item)

            def save(store: "FakeStore", item):
                return store.put(item)
            """}, ("handler", "save", "FakeStore.put")),
    "getattr with a constant name": ({
        "app.py": """
            import tasks

            def handler(event, context):
                return getattr(tasks, "dummy_task")(event)
            """,
        "tasks.py": "def dummy_task(event):\n    return len(event)\n"}, ("handler", "dummy_task")),
    "dict .get dispatch": ({
        "app.py": """
            from tasks import real, stub_task

            ROUTES = {"a": real, "b": stub_task}

            def handler(event, context):
                return ROUTES.get(event["route"], real)(event)
            """,
        "tasks.py": "def real(e):\n    return len(e)\n\n\ndef stub_task(e):\n    return len(e) + 1\n"},
        ("handler", "stub_task")),
}


@pytest.mark.parametrize(("files", "call_path"), RESOLUTION_CASES.values(), ids=list(RESOLUTION_CASES))
def test_call_graph_resolution_reaches_the_mock(tmp_path: Path, files: dict[str, str],
                                                call_path: tuple[str, ...]) -> None:
    handler = "pkg.app.handler" if "pkg/app.py" in files else "app.handler"
    found = only(scan_tree(tmp_path, files, handler), "DV301")
    assert [f.call_path for f in found] == [call_path]
    assert " → ".join(call_path) in found[0].message


def test_third_party_code_is_never_opened(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "app.py": "import vendor\n\ndef handler(event, context):\n    return vendor.mock_call(event)\n",
        "vendor/__init__.py": "def mock_call(x):\n    raise NotImplementedError\n",
        "vendor-1.0.dist-info/RECORD": "vendor/__init__.py,,\n",
        "vendor-1.0.dist-info/top_level.txt": "vendor\n",
    })
    report = scan_tree(tmp_path)
    assert report.findings == []
    assert report.first_party_files == 1
    assert report.files_parsed == 1


def test_handler_not_found_is_a_note_not_a_crash(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, {"app.py": "x = 1\n"}, "missing.handler")
    assert report.findings == []
    assert "not in the scanned code" in report.notes[0]


SUCCESS_SHAPES = {
    '{"status": "success"}': True, "True": True, '"ok"': True, '{"statusCode": 200}': True,
    '{"status_code": 204, "body": "{}"}': True, '(True, "stored")': True, '{"status": "failed"}': False,
    "None": False, "42": False, '{"count": 0}': False,
}


@pytest.mark.parametrize(("value", "flagged"), SUCCESS_SHAPES.items(), ids=list(SUCCESS_SHAPES))
def test_dv302_success_shapes(tmp_path: Path, value: str, flagged: bool) -> None:
    report = scan_tree(tmp_path, {
        "app.py": f"""
            import logging
            log = logging.getLogger()

            def work(document_id):
                log.info("working on %s", document_id)
                return {value}

            def handler(event, context):
                return {{"result": work(event["id"])}}
            """})
    assert bool(only(report, "DV302")) is flagged


def test_dv302_not_for_computation_or_health_checks(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, {"app.py": """
        def ping():
            return {"status": "ok"}

        def check(event):
            if not event:
                raise ValueError("empty")
            return True

        def handler(event, context):
            return ping() if event.get("ping") else check(event)
        """})
    assert report.findings == []


def test_dv303_abstract_protocol_and_overload_are_excluded(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, {"app.py": """
        import abc
        from typing import Protocol, overload

        class Base(abc.ABC):
            @abc.abstractmethod
            def run(self, x): ...

        class Sink(Protocol):
            def put(self, x) -> None: ...

        class Impl(Base):
            def run(self, x):
                return x * 2

        @overload
        def conv(x: int) -> int: ...
        @overload
        def conv(x: str) -> int: ...
        def conv(x):
            return int(x)

        def use(base: Base, sink: Sink, x):
            sink.put(x)
            return base.run(conv(x))

        def handler(event, context):
            return use(Impl(), None, event["x"])
        """})
    assert only(report, "DV303") == []


def test_dv303_reports_the_raise_line(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, {"app.py": """
        def convert(kind, data):
            if kind == "pdf":
                return data.decode()
            raise NotImplementedError(kind)

        def handler(event, context):
            return convert(event["kind"], event["data"])
        """})
    [finding] = only(report, "DV303")
    assert finding.line == 4
    assert "raises NotImplementedError" in finding.message


TOGGLE_APP = {
    "app.py": """
        import os
        from tasks import real, process_mock

        USE_MOCK = os.environ.get("USE_MOCK", "true") == "true"

        def handler(event, context):
            return process_mock(event) if USE_MOCK else real(event)
        """,
    "tasks.py": "import boto3\n\ndef real(e):\n    return boto3.client('s3').list_buckets()\n\n\n"
                "def process_mock(e):\n    return None\n",
}


def test_dv305_default_sends_to_mock(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, TOGGLE_APP)
    [toggle] = only(report, "DV305")
    assert "`USE_MOCK` defaults to `'true'` at app.py:4" in toggle.message
    assert "process_mock" in toggle.message
    assert only(report, "DV301")


def test_dv305_target_environment_overrides_the_default(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, TOGGLE_APP, environment={"USE_MOCK": "false"})
    assert report.findings == []  # the deployed function takes the real branch; the mock is unreachable


def test_dv305_environment_that_selects_the_mock_is_reported(tmp_path: Path) -> None:
    files = {**TOGGLE_APP, "app.py": TOGGLE_APP["app.py"].replace('"true") == "true"', '"no") == "yes"')}
    assert only(scan_tree(tmp_path, files), "DV305") == []
    [toggle] = only(scan_tree(tmp_path, environment={"USE_MOCK": "yes"}), "DV305")
    assert "`'yes'` (set in the function's environment) at app.py:4" in toggle.message


def test_dv306_markers_are_warnings_in_reached_functions_only(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, {"app.py": """
        def unused():
            # FIXME: never called
            return 1

        def handler(event, context):
            text = "# TODO inside a string is not a comment"
            # HACK: retry twice until the queue is fixed
            return len(text)
        """})
    [marker] = report.findings
    assert (marker.rule, marker.severity, marker.line) == ("DV306", Severity.WARNING, 7)
    assert "HACK" in marker.message


ORPHAN_APP = {
    "app.py": "from tasks.fake_process import process\n\ndef handler(event, context):\n    return process(event)\n",
    "tasks/__init__.py": "",
    "tasks/fake_process.py": "def process(event):\n    return len(event)\n",
    "tasks/process.py": "def process_for_real(event, db):\n" + "".join(
        f"    db.execute('step {i}', event)\n" for i in range(80)),
}


def test_dv307_names_the_stub_and_the_orphan(tmp_path: Path) -> None:
    [orphan] = only(scan_tree(tmp_path, ORPHAN_APP), "DV307")
    assert orphan.message == ("handler reaches `process()`; `process_for_real()` (81 lines, tasks/process.py) "
                              "is never called: wire it in")
    assert orphan.path == "tasks/process.py"


def test_dv307_threshold_is_configurable(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, ORPHAN_APP, settings=ScanSettings(orphan_min_lines=200))
    assert only(report, "DV307") == []
    assert only(report, "DV301")


def test_dv308_names_the_nearest_reachable_function(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, {
        "app.py": "from tasks import process_document_mock\n\ndef handler(event, context):\n"
                  "    return process_document_mock(event)\n",
        "tasks.py": "def process_document_mock(e):\n    return len(e)\n\n\ndef process_document(e):\n"
                    "    return e.upper()\n"}, must_reach=("tasks.process_document", "tasks.process_document_mock"))
    [missing] = only(report, "DV308")
    assert missing.message == ("handler `app.handler` never reaches `tasks.process_document`; nearest reachable: "
                               "`tasks.process_document_mock`")


def test_dv304_ignores_type_checking_and_first_party_namesakes(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, {
        "app.py": """
            from typing import TYPE_CHECKING
            import responses
            if TYPE_CHECKING:
                import pytest

            def handler(event, context):
                return responses.ok(event)
            """,
        "responses.py": "def ok(body):\n    return {'statusCode': 201, 'body': str(body)}\n"})
    assert only(report, "DV304") == []


def test_unparsable_file_is_noted(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, {"app.py": "import broken\n\ndef handler(e, c):\n    return broken.x(e)\n",
                                  "broken.py": "def x(:\n"})
    assert any("broken.py does not parse" in note for note in report.notes)


def test_results_are_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DV_CACHE_DIR", str(tmp_path / "cache"))
    files = {"src/app.py": "from m import stub_x\n\ndef handler(e, c):\n    return stub_x(e)\n",
             "src/m.py": "def stub_x(e):\n    return len(e)\n"}
    write_tree(tmp_path, files)
    first = scan_tree(tmp_path / "src", use_cache=True)
    second = scan_tree(tmp_path / "src", use_cache=True)
    assert not first.cached
    assert second.cached
    assert [f.message for f in first.findings] == [f.message for f in second.findings]
    (tmp_path / "src" / "m.py").write_text("def stub_x(e):\n    return len(e) + 1\n")
    third = scan_tree(tmp_path / "src", use_cache=True)
    assert not third.cached
