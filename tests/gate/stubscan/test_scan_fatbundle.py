"""A fat bundle (boto3, botocore, requests, pydantic, psycopg2, PyMuPDF, Pillow ... with their dist-info) and a
small handler that uses them: the scan reports nothing and opens only the handler's own file. The bundle is laid
out from this interpreter's installed distributions (sources and metadata only), so no download is needed;
bench/scan_speed.py measures the same on a `pip install --target` bundle with anthropic and SQLAlchemy too."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest

from deployverify.gate.stubscan.scan import HandlerSpec, scan

DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "requests", "idna",
                 "certifi", "charset-normalizer", "pydantic", "pydantic-core", "typing-extensions",
                 "psycopg2-binary", "pymupdf", "pillow", "moto")
HANDLER = '''
import json

import boto3
import fitz
import psycopg2
import requests
from PIL import Image
from pydantic import BaseModel


class Job(BaseModel):
    bucket: str
    key: str


def handler(event, context):
    job = Job.model_validate(json.loads(event["body"]))
    body = boto3.client("s3").get_object(Bucket=job.bucket, Key=job.key)["Body"].read()
    pages = fitz.open(stream=body, filetype="pdf").page_count
    requests.post("https://hooks.internal/done", json={"pages": pages}, timeout=5)
    with psycopg2.connect("") as conn, conn.cursor() as cursor:
        cursor.execute("update jobs set pages = %s where key = %s", (pages, job.key))
    return {"pages": pages, "thumbnail": Image.new("RGB", (1, 1)).size}
'''


def _lay_out(distribution: str, bundle: Path) -> int:
    dist = importlib.metadata.distribution(distribution)
    copied = 0
    for file in dist.files or ():
        if not str(file).endswith((".py", ".pyi", "RECORD", "top_level.txt", "METADATA", "WHEEL")):
            continue
        source = Path(str(dist.locate_file(file)))
        if ".." in file.parts or not source.is_file():
            continue
        target = bundle / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied += 1
    return copied


@pytest.fixture(scope="session")
def fat_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = tmp_path_factory.mktemp("fat") / "bundle"
    bundle.mkdir()
    copied = sum(_lay_out(name, bundle) for name in DISTRIBUTIONS)
    assert copied > 1000, "the fat bundle should hold the distributions' sources"
    (bundle / "app.py").write_text(HANDLER.lstrip(), encoding="utf-8")
    return bundle


def test_fat_bundle_third_party_code_yields_no_findings(fat_bundle: Path) -> None:
    report = scan(fat_bundle, [HandlerSpec("app.handler")], use_cache=False)
    assert report.findings == []
    assert report.suppressed == []
    assert report.first_party_files == 1
    assert report.files_parsed == 1


def test_fat_bundle_rescan_comes_from_the_cache(fat_bundle: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DV_CACHE_DIR", str(tmp_path / "cache"))
    first = scan(fat_bundle, [HandlerSpec("app.handler")])
    again = scan(fat_bundle, [HandlerSpec("app.handler")])
    assert not first.cached
    assert again.cached
    assert again.findings == first.findings == []
