"""DV201-DV205: the bundle's native code can load on the function's Lambda runtime.

Read from file headers and wheel metadata before anything is imported: a wrong binary fails here with the file, the
package and the reason, not as an `ImportError: ... invalid ELF header` at the first invocation.
"""

from __future__ import annotations

from deployverify.core import check as dv
from deployverify.core.check import check
from deployverify.gate.native.native import NativeReport


@check("DV201")
def test_extensions_match_architecture(native_report: NativeReport) -> None:
    """Every ELF file in the bundle and its layers (extension modules and the libraries they load) is built for
    the function's architecture: EM_X86_64 for x86_64, EM_AARCH64 for arm64."""
    dv.evidence(native_report.evidence())
    dv.expect_no_findings(native_report.findings["DV201"], what="file")


@check("DV202")
def test_extensions_glibc(native_report: NativeReport) -> None:
    """No ELF file needs a newer glibc (the highest `GLIBC_x.y` in `.gnu.version_r`) than the runtime's OS has:
    2.26 on Amazon Linux 2 (python3.8-3.11), 2.34 on Amazon Linux 2023 (python3.12+)."""
    dv.evidence(native_report.evidence())
    dv.expect_no_findings(native_report.findings["DV202"], what="file")


@check("DV203")
def test_extensions_cpython_abi(native_report: NativeReport) -> None:
    """Every extension module's file name carries an ABI the runtime's importer loads:
    `cpython-3XY-<arch>-linux-gnu` for the runtime's own version, `abi3`, or no tag."""
    dv.evidence(native_report.evidence())
    dv.expect_no_findings(native_report.findings["DV203"], what="file")


@check("DV204")
def test_no_foreign_binaries(native_report: NativeReport) -> None:
    """Nothing shipped as `.so`/`.pyd` is a macOS (Mach-O), Windows (PE) or otherwise non-ELF file: such files
    come from building the bundle on a laptop instead of for Lambda's platform."""
    dv.evidence(native_report.evidence())
    dv.expect_no_findings(native_report.findings["DV204"], what="file")


@check("DV205")
def test_wheel_tags(native_report: NativeReport) -> None:
    """Each installed distribution's WHEEL `Tag:` lines include one the runtime accepts: python tag and ABI for
    its CPython, manylinux platform no newer than its glibc, and the function's CPU. `linux_<cpu>` (compiled on
    the build machine) only warns."""
    dv.evidence(native_report.evidence())
    dv.expect_no_findings(native_report.findings["DV205"], what="wheel")
