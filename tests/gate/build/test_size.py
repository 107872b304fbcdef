"""DV103's engine: the bundle inventory (apparent sizes, first- vs third-party, contributors) and the zip estimate."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deployverify.core.results import Severity
from deployverify.core.zipper import zip_bundle
from deployverify.gate.build.inventory import (
    UNZIPPED_LIMIT,
    ZIPPED_LIMIT,
    deflate_estimate,
    estimate_zipped,
    size_failure,
    take_inventory,
    upper_bound_zipped,
    zipped_warning,
)
from deployverify.gate.build.layer_names import REBUILT_LAYER_MARKER


def sparse_file(path: Path, size: int) -> Path:
    """A file of `size` apparent bytes that takes no disk space: what Lambda counts is the apparent size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def make_oversized_bundle(root: Path) -> Path:
    """The DV103 bad fixture: a handler plus a 'model' file that puts the bundle over 262,144,000 bytes."""
    (root / "app.py").parent.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text("def handler(event, context):\n    return {}\n", encoding="utf-8")
    sparse_file(root / "models" / "weights.bin", UNZIPPED_LIMIT + 1)
    meta = root / "torchlite-2.0.dist-info"
    meta.mkdir()
    (meta / "RECORD").write_text("torchlite/lib.so,,\n", encoding="utf-8")
    sparse_file(root / "torchlite" / "lib.so", 5_000_000)
    return root


def test_inventory_splits_first_and_third_party(tmp_path: Path) -> None:
    bundle = make_oversized_bundle(tmp_path / "bundle")
    (bundle / "__pycache__").mkdir()
    (bundle / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x" * 1000)  # not shipped, not counted
    inventory = take_inventory(bundle)
    assert inventory.total_size == UNZIPPED_LIMIT + 1 + 5_000_000 + (bundle / "app.py").stat().st_size + \
        (bundle / "torchlite-2.0.dist-info" / "RECORD").stat().st_size
    assert inventory.first_party_size == UNZIPPED_LIMIT + 1 + (bundle / "app.py").stat().st_size
    assert [(c.name, c.first_party) for c in inventory.contributors()[:2]] == [("models", True), ("torchlite", False)]


def test_oversized_bundle_fails_quoting_size_and_biggest(tmp_path: Path) -> None:
    bundle = make_oversized_bundle(tmp_path / "bundle")
    assert os.stat(bundle / "models" / "weights.bin").st_blocks * 512 < 1_000_000  # sparse: no disk is used
    message = size_failure(take_inventory(bundle))
    assert message is not None
    assert message.startswith("bundle is 267,144," )
    assert "(Lambda's limit is 262,144,000 bytes, layers included)" in message
    assert "biggest: models 262.1 MB, torchlite 5.0 MB" in message


def test_layers_count_towards_the_limit(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    sparse_file(bundle / "app.py", 1000)
    layer = tmp_path / "ml-layer"
    sparse_file(layer / "python" / "model.bin", UNZIPPED_LIMIT)
    assert size_failure(take_inventory(bundle)) is None
    message = size_failure(take_inventory(bundle, [layer]))
    assert message is not None
    assert message.startswith("bundle with its layers is 262,145,000 bytes")
    assert "layer ml-layer: python 262.1 MB" in message


def test_a_bundle_under_50_mb_needs_no_estimate(tmp_path: Path) -> None:
    sparse_file(tmp_path / "bundle" / "data.bin", 10_000_000)
    estimate = estimate_zipped(take_inventory(tmp_path / "bundle"))
    assert estimate.method.startswith("at most")
    assert estimate.size <= ZIPPED_LIMIT
    assert zipped_warning(estimate) is None


@pytest.mark.parametrize("kind", ["random", "zeros", "text"])
def test_zip_estimate_is_close_to_a_real_zip(tmp_path: Path, kind: str) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for i in range(40):
        if kind == "random":
            data = os.urandom(200_000 + i * 1000)
        elif kind == "zeros":
            data = bytes(300_000)
        else:
            data = b"".join(f"def function_{i}_{n}(x):\n    return x * {n}\n".encode() for n in range(6000))
        (bundle / f"file{i}.bin").write_bytes(data)
    inventory = take_inventory(bundle)
    estimate = deflate_estimate(inventory.entries)
    real = len(zip_bundle(bundle))
    # Within 5%, give or take a KiB a file: highly compressible samples scale a little high, which is noise next to
    # the 50 MB the estimate is compared with.
    assert abs(estimate - real) <= 0.05 * real + 1024 * len(inventory.entries), (estimate, real)
    assert real <= upper_bound_zipped(inventory.entries)


def test_over_50_mb_zipped_warns_and_does_not_fail(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for i in range(6):
        (bundle / f"blob{i}.bin").write_bytes(os.urandom(10_000_000))  # random bytes do not compress
    inventory = take_inventory(bundle)
    assert size_failure(inventory) is None
    warning = zipped_warning(estimate_zipped(inventory))
    assert warning is not None
    assert warning.severity is Severity.WARNING
    assert warning.message.startswith("the bundle zips to about 60.")
    assert "over the 50 MB limit of a direct upload: deploy it through S3" in warning.message


def test_a_rebuilt_public_layer_is_named_by_its_arn_not_its_cache_folder(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "app.py").write_text("def handler(event, context):\n    return event\n", encoding="utf-8")
    rebuilt = tmp_path / "4f2364572accf1def8c24ff3"  # the cache's hash folder, a name the user never wrote
    (rebuilt / "python").mkdir(parents=True)
    (rebuilt / "python" / "helpers.py").write_text("X = 1\n", encoding="utf-8")
    (rebuilt / REBUILT_LAYER_MARKER).write_text(json.dumps(
        {"arn": "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:7"}))
    own = tmp_path / "shared"
    (own / "python").mkdir(parents=True)
    (own / "python" / "util.py").write_text("Y = 2\n", encoding="utf-8")
    names = {entry.name for entry in take_inventory(bundle, [rebuilt, own]).layer_entries}
    assert names == {"layer AWSLambdaPowertoolsPythonV3-python311-x86_64:7: python/helpers.py",
                     "layer shared: python/util.py"}
