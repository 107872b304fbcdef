"""The native bad bundles (fixtures/bad-bundles/make_native.py) and the scan engine on them.

Each generated case breaks exactly one of DV201-DV205 and the engine names the file, the package and the cause. The
hand-written ELF files are cross-checked with binutils' readelf, and one real extension compiled with gcc shows the
glibc rule on a binary a linker wrote.
"""

from __future__ import annotations

import platform as host_platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deployverify.gate.native.native import native_findings, native_report, scan_native
from deployverify.gate.native.platform import platform_for
from tests.support.env import require_tool
from tests.support.native_generator import load_native_generator

NATIVE_CHECKS = ("DV201", "DV202", "DV203", "DV204", "DV205")


make_native = load_native_generator()
CASES: dict[str, tuple[str, str]] = make_native.CASES


@pytest.fixture(scope="session")
def native_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    made: dict[str, Path] = make_native.generate(tmp_path_factory.mktemp("native-bad-bundles"))
    return made


@pytest.mark.parametrize(("case", "check_id", "phrase"), [(c, *CASES[c]) for c in CASES])
def test_each_bad_bundle_breaks_exactly_its_check(native_bundles: dict[str, Path], case: str, check_id: str,
                                                  phrase: str) -> None:
    report = native_report(native_bundles[case], (), platform_for(make_native.RUNTIME, make_native.ARCHITECTURE))
    failing = {cid: [f.message for f in found] for cid, found in report.findings.items() if found}
    assert list(failing) == [check_id], failing
    assert len(failing[check_id]) == 1
    assert phrase in failing[check_id][0]
    if check_id != "DV205":  # DV205 names the distribution; the others the file
        assert report.findings[check_id][0].path in failing[check_id][0]


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first, second = make_native.generate(tmp_path / "a"), make_native.generate(tmp_path / "b")
    for case in CASES:
        files_a = {p.relative_to(first[case]): p.read_bytes() for p in first[case].rglob("*") if p.is_file()}
        files_b = {p.relative_to(second[case]): p.read_bytes() for p in second[case].rglob("*") if p.is_file()}
        assert files_a == files_b, case


@pytest.mark.parametrize(("case", "machine", "needs"), [
    ("glibc_2_34_extension", "Advanced Micro Devices X86-64", ["pthread_create@GLIBC_2.34", "memcpy@GLIBC_2.14"]),
    ("arm64_extension", "AArch64", ["memcpy@GLIBC_2.17"]),
])
def test_handmade_elf_files_read_the_same_in_readelf(native_bundles: dict[str, Path], case: str, machine: str,
                                                     needs: list[str]) -> None:
    require_tool("readelf", "binutils' readelf")
    library = next((native_bundles[case] / "fastmath").glob("_speedups*.so"))
    out = subprocess.run(["readelf", "--file-header", "--dyn-syms", "--wide", str(library)], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    assert f"Machine:                           {machine}" in out
    for symbol in needs:
        assert symbol in out


def test_report_evidence_names_the_highest_glibc_need(native_bundles: dict[str, Path]) -> None:
    report = native_report(native_bundles["glibc_2_34_extension"], (), platform_for("python3.12", "x86_64"))
    assert report.findings["DV202"] == []  # AL2023's glibc 2.34 has pthread_create@GLIBC_2.34
    assert "highest glibc need GLIBC_2.34 (fastmath/_speedups.cpython-311-x86_64-linux-gnu.so)" in report.evidence()


def test_layers_are_scanned_with_their_own_path(native_bundles: dict[str, Path], tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    layer = tmp_path / "fastmath-layer"
    shutil.copytree(native_bundles["arm64_extension"] / "fastmath", layer / "python" / "fastmath")
    findings = native_findings(scan_native(bundle, [layer]), platform_for("python3.11", "x86_64"))
    assert [f.path for f in findings["DV201"]] == ["fastmath-layer/python/fastmath/_speedups.abi3.so"]


def test_a_rebuilt_public_layer_is_named_by_its_arn_not_its_cache_folder(native_bundles: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    # apigw-lambda-opensearch-serverless-nextgen: DV203 named `4f2364572accf1def8c24ff3/python/_cffi_backend...`, the
    # hash folder the gate rebuilt the Powertools layer into, not the layer the template names.
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    layer = tmp_path / "4f2364572accf1def8c24ff3"
    shutil.copytree(native_bundles["arm64_extension"] / "fastmath", layer / "python" / "fastmath")
    (layer / "deployverify-layer.json").write_text(
        '{"arn": "arn:aws:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-x86_64:33"}')
    findings = native_findings(scan_native(bundle, [layer]), platform_for("python3.11", "x86_64"))
    assert [f.path for f in findings["DV201"]] == [
        "AWSLambdaPowertoolsPythonV3-python314-x86_64:33/python/fastmath/_speedups.abi3.so"]


def _glibc_2_34_or_later() -> bool:
    name, version = host_platform.libc_ver()
    return name == "glibc" and tuple(int(p) for p in version.split(".")[:2]) >= (2, 34)


@pytest.mark.skipif(not _glibc_2_34_or_later() or sys.platform != "linux",
                    reason="needs glibc >= 2.34, where pthread_create is versioned GLIBC_2.34")
def test_real_compiled_extension_needing_glibc_2_34(tmp_path: Path) -> None:
    require_tool("gcc", "gcc")  # a laptop without a compiler skips; CI (CI=true) fails: install-system.sh installs it
    bundle = tmp_path / "bundle"
    (bundle / "fastmath").mkdir(parents=True)
    source = tmp_path / "speedups.c"
    source.write_text("#include <pthread.h>\nstatic void *work(void *arg) { return arg; }\n"
                      "int start_worker(void) { pthread_t t; return pthread_create(&t, 0, work, 0); }\n",
                      encoding="utf-8")
    target = bundle / "fastmath" / "_speedups.cpython-311-x86_64-linux-gnu.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(target), str(source), "-lpthread"], check=True,
                   timeout=120)
    report = native_report(bundle, (), platform_for("python3.11", host_platform.machine().replace("aarch64",
                                                                                                  "arm64")))
    messages = [f.message for f in report.findings["DV202"]]
    assert len(messages) == 1
    assert "needs GLIBC_2.34 (for `pthread_create`); python3.11 has glibc 2.26" in messages[0]


def test_damaged_and_empty_files_are_reported_not_crashed_on(tmp_path: Path) -> None:
    package = tmp_path / "bundle" / "pkg"
    package.mkdir(parents=True)
    (package / "_bad.abi3.so").write_bytes(b"\x7fELF\x02\x01\x01\x00garbage")
    (package / "_cut.abi3.so").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x03\x00\x3e\x00" + bytes(44))
    (package / "_short.abi3.so").write_bytes(make_native.minimal_elf(62, "libc.so.6", [("memcpy", "GLIBC_2.14")])[:300])
    (package / "_empty.so").write_bytes(b"")
    (package / "_text.so").write_text("INPUT(-lfoo)\n", encoding="utf-8")  # a linker script, not a library
    report = native_report(tmp_path / "bundle", (), platform_for("python3.11", "x86_64"))
    messages = [f.message for f in report.findings["DV204"]]
    assert [m.split(" not a Linux ELF")[0] for m in messages] == [
        "`pkg/_bad.abi3.so` (pkg) is a corrupt ELF file (ELFParseError: expected 7, found 6),",
        "`pkg/_cut.abi3.so` (pkg) is a corrupt ELF file (no program headers: nothing the dynamic linker can map),",
        "`pkg/_empty.so` (pkg) is an empty file,",
        "`pkg/_short.abi3.so` (pkg) is a corrupt ELF file (truncated: its section table ends at byte 968, the file "
        "has 300),",
        "`pkg/_text.so` (pkg) is a file of unknown format (it starts with b'INPUT(-l'),",
    ]
