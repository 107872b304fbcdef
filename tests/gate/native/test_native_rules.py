"""The native-extension rules as plain functions: file-name ABI tags, wheel tags, platforms, distribution owners."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployverify.gate.build.dists import Owners, read_distributions
from deployverify.gate.native.native import extension_tag, is_native_name
from deployverify.gate.native.platform import WheelPlatform, platform_for
from deployverify.gate.native.wheeltags import expand, judge_tag, judge_wheel

PY311_X86 = WheelPlatform("python3.11", (3, 11), (2, 26), "x86_64")
PY312_ARM = WheelPlatform("python3.12", (3, 12), (2, 34), "arm64")


@pytest.mark.parametrize(("name", "text", "python", "flags", "platform"), [
    ("_psycopg.cpython-312-x86_64-linux-gnu.so", "cpython-312-x86_64-linux-gnu", (3, 12), "", "x86_64-linux-gnu"),
    ("_speedups.cpython-311-darwin.so", "cpython-311-darwin", (3, 11), "", "darwin"),
    ("_core.cpython-313t-x86_64-linux-gnu.so", "cpython-313t-x86_64-linux-gnu", (3, 13), "t", "x86_64-linux-gnu"),
    ("_speedups.cp311-win_amd64.pyd", "cp311-win_amd64", (3, 11), "", "win_amd64"),
    ("_mupdf.abi3.so", "abi3", None, "", None),
    ("_extra.so", "", None, "", None),
    ("_cffi_backend.cpython-38-aarch64-linux-gnu.so", "cpython-38-aarch64-linux-gnu", (3, 8), "",
     "aarch64-linux-gnu"),
])
def test_extension_tag_is_read_from_the_file_name(name: str, text: str, python: tuple[int, int] | None, flags: str,
                                                  platform: str | None) -> None:
    tag = extension_tag(name)
    assert tag is not None
    assert (tag.text, tag.python, tag.flags, tag.platform) == (text, python, flags, platform)


@pytest.mark.parametrize("name", ["libpq-a17e3caa.so.5.17", "libmupdf.so", "libcrypto-fb8d5b21.so.3",
                                  "not-an-identifier.so"])
def test_shared_libraries_are_not_extension_modules(name: str) -> None:
    assert is_native_name(name)
    assert extension_tag(name) is None


@pytest.mark.parametrize(("name", "native"), [("x.so", True), ("x.pyd", True), ("libz.so.1", True),
                                              ("x.py", False), ("x.dylib", False), ("notes.sol", False)])
def test_which_files_are_native(name: str, native: bool) -> None:
    assert is_native_name(name) is native


@pytest.mark.parametrize(("runtime", "arch", "python", "glibc", "machine", "suffix"), [
    ("python3.11", "x86_64", (3, 11), (2, 26), "EM_X86_64", ".cpython-311-x86_64-linux-gnu.so"),
    ("python3.12", "arm64", (3, 12), (2, 34), "EM_AARCH64", ".cpython-312-aarch64-linux-gnu.so"),
    ("python3.8", "x86_64", (3, 8), (2, 26), "EM_X86_64", ".cpython-38-x86_64-linux-gnu.so"),
])
def test_platform_comes_from_the_runtime_table(runtime: str, arch: str, python: tuple[int, int],
                                               glibc: tuple[int, int], machine: str, suffix: str) -> None:
    platform = platform_for(runtime, arch)
    assert (platform.python, platform.glibc, platform.elf_machine) == (python, glibc, machine)
    assert platform.extension_suffixes == (suffix, ".abi3.so", ".so")


def test_compressed_wheel_tags_expand_to_every_combination() -> None:
    assert list(expand(["cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", "py2.py3-none-any"])) == [
        ("cp311", "cp311", "manylinux_2_17_x86_64"), ("cp311", "cp311", "manylinux2014_x86_64"),
        ("py2", "none", "any"), ("py3", "none", "any")]


# (wheel tag, platform, accepted, warning only, phrase the explanation must contain)
WHEEL_TAGS = [
    ("cp311-cp311-manylinux_2_17_x86_64", PY311_X86, True, False, ""),
    ("cp311-cp311-manylinux2014_x86_64", PY311_X86, True, False, ""),
    ("cp311-cp311-manylinux_2_26_x86_64", PY311_X86, True, False, ""),
    ("cp39-abi3-manylinux2014_x86_64", PY311_X86, True, False, ""),
    ("py3-none-any", PY311_X86, True, False, ""),
    ("py311-none-any", PY311_X86, True, False, ""),
    ("cp311-none-any", PY311_X86, True, False, ""),
    ("cp312-cp312-manylinux_2_17_x86_64", PY311_X86, False, False, "CPython 3.11"),
    ("cp312-abi3-manylinux_2_17_x86_64", PY311_X86, False, False, "CPython 3.11"),
    ("cp310-none-any", PY311_X86, False, False, "CPython 3.11"),
    ("pp310-pypy310_pp73-manylinux_2_17_x86_64", PY311_X86, False, False, "a CPython wheel"),
    ("py2-none-any", PY311_X86, False, False, "Python 3"),
    ("cp311-cp311-manylinux_2_28_x86_64", PY311_X86, False, False, "up to `manylinux_2_26_x86_64`"),
    ("cp311-cp311-manylinux_2_34_x86_64", PY311_X86, False, False, "python3.11 has glibc 2.26"),
    ("cp311-cp311-manylinux2014_aarch64", PY311_X86, False, False, "x86_64 wheels"),
    ("cp311-cp311-musllinux_1_1_x86_64", PY311_X86, False, False, "not a musl libc (Alpine) one"),
    ("cp311-cp311-macosx_11_0_arm64", PY311_X86, False, False, "not a macOS one"),
    ("cp311-cp311-win_amd64", PY311_X86, False, False, "not a Windows one"),
    ("cp311-cp311-linux_x86_64", PY311_X86, True, True, "compiled on the build machine"),
    ("cp312-cp312-manylinux_2_34_aarch64", PY312_ARM, True, False, ""),
    ("cp312-cp312-manylinux_2_34_x86_64", PY312_ARM, False, False, "aarch64 wheels"),
    ("cp312-cp312-manylinux_2_35_aarch64", PY312_ARM, False, False, "up to `manylinux_2_34_aarch64`"),
]


@pytest.mark.parametrize(("tag", "platform", "ok", "warning", "phrase"), WHEEL_TAGS)
def test_wheel_tag_verdict(tag: str, platform: WheelPlatform, ok: bool, warning: bool, phrase: str) -> None:
    python, abi, platform_tag = tag.split("-")
    verdict = judge_tag(python, abi, platform_tag, platform)
    assert (verdict.ok, verdict.warning) == (ok, warning)
    assert phrase in verdict.expected


def test_a_wheel_is_fine_when_any_of_its_tags_is() -> None:
    verdict = judge_wheel(["cp311-cp311-manylinux_2_28_x86_64", "cp311-cp311-manylinux2014_x86_64"], PY311_X86)
    assert verdict.ok
    assert not verdict.warning
    assert verdict.tag == "cp311-cp311-manylinux2014_x86_64"


def test_a_wheel_with_no_acceptable_tag_reports_its_first() -> None:
    verdict = judge_wheel(["cp311-cp311-macosx_11_0_arm64", "cp311-cp311-macosx_10_9_x86_64"], PY311_X86)
    assert not verdict.ok
    assert verdict.tag == "cp311-cp311-macosx_11_0_arm64"


def test_owners_come_from_record_and_top_level(tmp_path: Path) -> None:
    meta = tmp_path / "psycopg2_binary-2.9.13.dist-info"
    meta.mkdir()
    (meta / "RECORD").write_text("psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so,sha256=x,1\n"
                                 "psycopg2_binary.libs/libpq-a17e3caa.so.5.17,sha256=y,2\n", encoding="utf-8")
    (meta / "WHEEL").write_text("Wheel-Version: 1.0\nTag: cp311-cp311-manylinux2014_x86_64\n", encoding="utf-8")
    (meta / "top_level.txt").write_text("psycopg2\n", encoding="utf-8")
    dists = read_distributions(tmp_path)
    assert [(d.name, d.version, d.wheel_tags) for d in dists] == [
        ("psycopg2-binary", "2.9.13", ("cp311-cp311-manylinux2014_x86_64",))]
    owners = Owners(dists)
    assert owners.owner("psycopg2_binary.libs/libpq-a17e3caa.so.5.17") == "psycopg2-binary"
    assert owners.owner("psycopg2/extras.py") == "psycopg2-binary"  # by its folder
    assert owners.owner("tasks/process_document.py") is None

