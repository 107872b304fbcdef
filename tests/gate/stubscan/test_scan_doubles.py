"""DV301 judges mock-named code by behaviour: the finding quotes the evidence, and a real client named `stub` passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.scan_helpers import only, scan_tree

DOUBLE_CASES = {
    "constant ignoring inputs": ("""
        def handler(event, context):
            return fake_classify(event["text"])

        def fake_classify(text):
            return "invoice"
        """, "returns the constant `'invoice'` and ignores its inputs"),
    "no I/O": ("""
        class FakeStore:
            def __init__(self):
                self.items = {}

            def put(self, key, value):
                self.items[key] = value
                return key

        def handler(event, context):
            return FakeStore().put(event["id"], event)
        """, "does no I/O"),
    "subclasses a test double": ("""
        from unittest.mock import MagicMock

        class StubS3(MagicMock):
            pass

        def handler(event, context):
            return StubS3().put_object(Bucket="b", Key=event["key"])
        """, "subclasses the test double MagicMock"),
    "wraps a test double": ("""
        import boto3
        from unittest import mock

        def mock_client():
            return mock.MagicMock(wraps=boto3.client("s3"))

        def handler(event, context):
            return mock_client().put_object(Bucket="b", Key=event["key"])
        """, "wraps the test double MagicMock()"),
}


@pytest.mark.parametrize("case", list(DOUBLE_CASES), ids=str)
def test_mock_named_double_is_a_finding_quoting_its_evidence(tmp_path: Path, case: str) -> None:
    source, evidence = DOUBLE_CASES[case]
    [finding] = only(scan_tree(tmp_path, {"app.py": source}), "DV301")
    assert evidence in finding.message
    assert finding.severity.value == "error"


def test_double_in_a_test_module_says_so(tmp_path: Path) -> None:
    report = scan_tree(tmp_path, {
        "app.py": """
            from tests.doubles import stub_fetch

            def handler(event, context):
                return stub_fetch(event["url"])
            """,
        "tests/__init__.py": "",
        "tests/doubles.py": "import requests\n\ndef stub_fetch(url):\n    return requests.get(url).text\n"})
    [finding] = only(report, "DV301")
    assert "lives in the test module tests/doubles.py" in finding.message


REAL_OBJECT_CASES = {
    "grpc _stub() building a client": """
        import grpc
        import inventory_pb2_grpc as inventory

        def _stub():
            channel = grpc.insecure_channel("inventory:50051")
            return inventory.InventoryStub(channel)

        def handler(event, context):
            return _stub().Reserve(event["sku"])
        """,
    "get_stub() returning a boto3 client": """
        import boto3

        def get_stub(region):
            return boto3.client("s3", region_name=region)

        def handler(event, context):
            return get_stub(event["region"]).list_buckets()
        """,
    # The shape of a real-world false positive of the name-only rule (bench/scan_real_world.py): a chat message
    # called a placeholder, sent over HTTP.
    "placeholder-named function doing HTTP I/O": """
        import json
        import urllib.request

        def send_placeholder(chat_id):
            with urllib.request.urlopen(f"https://chat.example.com/send?chat={chat_id}", timeout=20) as reply:
                return json.loads(reply.read())["message_id"]

        def handler(event, context):
            return {"message_id": send_placeholder(event["chat_id"])}
        """,
}


@pytest.mark.parametrize("case", list(REAL_OBJECT_CASES), ids=str)
def test_stub_named_helper_building_a_real_object_passes(tmp_path: Path, case: str) -> None:
    report = scan_tree(tmp_path, {"app.py": REAL_OBJECT_CASES[case]})
    assert [f for f in report.findings if f.severity.value == "error"] == []
