"""The platform a bundle's native code must run on: wheel tags and ELF headers are judged against it.

Its own module so native.py (ELF files) and wheeltags.py (wheel tags) both read it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from deployverify.lambda_image.runtimes import runtime_info

# Lambda architecture -> (ELF machine, the CPU part of Linux's multiarch triplet and wheel platform tags).
ARCHITECTURES = {"x86_64": ("EM_X86_64", "x86_64"), "arm64": ("EM_AARCH64", "aarch64")}


@dataclass(frozen=True)
class WheelPlatform:
    """What the bundle must run on: the runtime's CPython, its glibc, and the function's architecture."""

    runtime: str  # python3.11
    python: tuple[int, int]
    glibc: tuple[int, int]
    architecture: str  # x86_64 | arm64

    @property
    def elf_machine(self) -> str:
        return ARCHITECTURES[self.architecture][0]

    @property
    def cpu(self) -> str:
        return ARCHITECTURES[self.architecture][1]

    @property
    def multiarch(self) -> str:
        return f"{self.cpu}-linux-gnu"

    @property
    def glibc_text(self) -> str:
        return f"{self.glibc[0]}.{self.glibc[1]}"

    @property
    def python_text(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"

    @property
    def extension_suffixes(self) -> tuple[str, ...]:
        """The suffixes the runtime's importer tries (importlib.machinery.EXTENSION_SUFFIXES on Lambda)."""
        return (f".cpython-{self.python[0]}{self.python[1]}-{self.multiarch}.so", ".abi3.so", ".so")


def platform_for(runtime: str, architecture: str) -> WheelPlatform:
    """The runtime's CPython and glibc (deployverify.lambda_image.runtimes) with the function's architecture."""
    info = runtime_info(runtime)
    return WheelPlatform(runtime=info.name, python=info.python_tuple, glibc=info.glibc_tuple, architecture=architecture)
