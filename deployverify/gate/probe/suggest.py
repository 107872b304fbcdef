"""Suggested fixes for a module that cannot be found, drawn from the bundle and the repository's source tree.

    suggest_for_missing("worker_tasks", "/var/task/process_document_lambda.py", index, roots, line=21)
    -> "`worker_tasks` is not in the bundle; the bundle has `models/worker_document.py`, so the import should be
        `models.worker_document`"

The cases, in the order they are tried: a compiled extension left out of an installed package; the imported
module exists in the bundle under a shorter name (a repository path was imported); the module exists in the source
tree but the build does not copy it; nothing found.
"""

from __future__ import annotations

import ast
import os
from functools import cache
from pathlib import Path

from deployverify.gate.probe.imports import BundleIndex

_BUILD_OUTPUT = frozenset({"build", "dist", ".aws-sam", "node_modules", ".git", "__pycache__", ".venv", "venv",
                           "site-packages", ".tox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "out"})
# Import name -> the distribution to install when its top-level package is missing or broken.
_KNOWN_DISTRIBUTIONS = {"psycopg2": "psycopg2-binary", "fitz": "pymupdf", "PIL": "pillow", "yaml": "PyYAML",
                        "dateutil": "python-dateutil", "jwt": "PyJWT", "cv2": "opencv-python-headless"}


def imported_names(file: Path, line: int) -> list[str]:
    """The dotted names the import statement at `file:line` asks for (`from a.b import c` -> a.b, a.b.c)."""
    try:
        tree = ast.parse(file.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or node.lineno > line or (node.end_lineno or 0) < line:
            continue
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif node.module and not node.level:
            names += [node.module, *(f"{node.module}.{a.name}" for a in node.names if a.name != "*")]
    return names


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _module_file(index: BundleIndex, name: str) -> str:
    info = index.modules[name]
    return _relative(info.path, index.root)


def _distribution_for(index: BundleIndex, module: str) -> str:
    top = module.split(".")[0]
    info = index.resolve(top)
    if top in _KNOWN_DISTRIBUTIONS:
        return _KNOWN_DISTRIBUTIONS[top]
    if info is not None and info.distribution:
        return info.distribution.replace("_", "-")
    return top


def install_hint(distribution: str, python: str, architecture: str = "x86_64") -> str:
    platform = "manylinux2014_aarch64" if architecture == "arm64" else "manylinux2014_x86_64"
    return (f"pip install --target <bundle> --platform {platform} --implementation cp --python-version {python} "
            f"--only-binary=:all: {distribution}")


def _missing_extension(module: str, index: BundleIndex, python: str, architecture: str) -> str | None:
    parent, _, leaf = module.rpartition(".")
    if not parent or index.resolve(parent) is None or index.modules[parent].first_party:
        return None
    folder = index.modules[parent].path
    folder = folder if folder.is_dir() else folder.parent
    others = sorted(p.name for p in folder.glob(f"{leaf}.*") if p.suffix in (".so", ".pyd"))
    distribution = _distribution_for(index, module)
    hint = install_hint(distribution, python, architecture)
    if others:
        return (f"`{module}` is {parent}'s compiled extension, but the bundle only has {', '.join(others)}, which "
                f"CPython {python} does not load: install `{distribution}` for the runtime: {hint}")
    if leaf.startswith("_"):
        return (f"`{module}` is {parent}'s compiled extension and the bundle lacks it (the build dropped or never "
                f"built it): install `{distribution}` for the runtime: {hint}")
    return f"`{module}` is missing from the installed `{distribution}`: reinstall it for the runtime: {hint}"


def _in_bundle_under_shorter_name(module: str, wanted: list[str], index: BundleIndex) -> str | None:
    for full in [*wanted, module]:
        parts = full.split(".")
        for start in range(1, len(parts)):
            shorter = ".".join(parts[start:])
            if shorter in index.modules and index.modules[shorter].first_party:
                return (f"`{module}` is not in the bundle; the bundle has `{_module_file(index, shorter)}`, so the "
                        f"import should be `{shorter}`")
    leaf = (wanted[0] if wanted else module).split(".")[-1]
    same_leaf = sorted(n for n, m in index.modules.items() if m.first_party and n.split(".")[-1] == leaf
                       and n != module)
    if same_leaf:
        return (f"`{module}` is not in the bundle; the bundle has `{_module_file(index, same_leaf[0])}`, so the "
                f"import should be `{same_leaf[0]}`")
    return None


@cache
def _source_dirs(root: Path, skip: tuple[Path, ...]) -> tuple[tuple[Path, tuple[str, ...]], ...]:
    """(folder, files) below root, skipping build output, virtualenvs and the bundle itself."""
    found = []
    skipped = {s.resolve() for s in skip}
    for here, dirs, files in os.walk(root):
        base = Path(here)
        dirs[:] = sorted(d for d in dirs if d not in _BUILD_OUTPUT and not d.endswith((".dist-info", ".egg-info"))
                         and (base / d).resolve() not in skipped)
        found.append((base, tuple(files)))
    return tuple(found)


def _in_source_tree(module: str, roots: tuple[Path, ...], skip: tuple[Path, ...], display_base: Path | None,
                    bundle_has_parent: bool) -> str | None:
    parts = module.split(".")
    for root in roots:
        if not root.is_dir():
            continue
        for folder, files in _source_dirs(root.resolve(), skip):
            as_package = folder.parts[-len(parts):] == tuple(parts) if len(folder.parts) >= len(parts) else False
            as_module = (len(parts) == 1 or folder.parts[-(len(parts) - 1):] == tuple(parts[:-1])) \
                and f"{parts[-1]}.py" in files
            if not (as_package or as_module):
                continue
            where = folder if as_package else folder / f"{parts[-1]}.py"
            top_dir = where
            for _ in range(len(parts) - 1):
                top_dir = top_dir.parent
            base = display_base or root
            what = f"a different `{parts[0]}`" if bundle_has_parent else f"no `{parts[0]}`"
            return (f"`{module}` is not in the bundle; the source tree has it at {_relative(where, base)} and the "
                    f"build does not copy it (the bundle has {what}): copy {_relative(top_dir, base)} into the "
                    "bundle root")
    return None


def suggest_for_missing(module: str, importing_file: str | Path | None, bundle_index: BundleIndex,
                        source_roots: tuple[Path, ...] | list[Path], *, line: int | None = None,
                        python: str = "3.11", architecture: str = "x86_64", display_base: Path | None = None) -> str:
    """One sentence: why `module` is missing and what to change. `importing_file` may be a /var/task path."""
    wanted: list[str] = []
    if importing_file and line:
        local = _local_path(Path(importing_file), bundle_index.root)
        wanted = [n for n in imported_names(local, line) if n == module or n.startswith(module + ".")]
    extension = _missing_extension(module, bundle_index, python, architecture)
    if extension:
        return extension
    shorter = _in_bundle_under_shorter_name(module, wanted, bundle_index)
    if shorter:
        return shorter
    has_parent = module.split(".")[0] in bundle_index.modules
    tree = _in_source_tree(module, tuple(Path(r) for r in source_roots), (bundle_index.root,), display_base,
                           has_parent)
    if tree:
        return tree
    top = module.split(".")[0]
    distribution = _KNOWN_DISTRIBUTIONS.get(top, top)
    return (f"`{module}` is not in the bundle, the standard library or the runtime: add `{distribution}` to the "
            "build's requirements (or fix the import)")


def _local_path(path: Path, bundle_root: Path) -> Path:
    """Map a path seen inside the sandbox (/var/task/...) back to the bundle on this machine."""
    text = path.as_posix()
    if text.startswith("/var/task/"):
        return bundle_root / text[len("/var/task/"):]
    return path
