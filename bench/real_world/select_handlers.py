"""Select the Lambda handlers of one repository snapshot for bench/real_world/corpus.yaml, mechanically.

A handler is every .py file at the commit with a top-level `def lambda_handler(` or `def handler(` (a line starting
exactly so) whose module name is importable, outside test folders. Importable: Lambda's runtime imports the file's
stem from the function's folder with importlib, so the stem must be an identifier; a keyword such as `lambda` is
fine there (serverless-patterns has a `lambda.py` handler). Test folders: a folder named test, tests, unit_tests,
integration_tests or __tests__, or one whose name starts with `test_`; a file's own name is not looked at, since
an app a test imports (powertools' getting_started_with_test_app.py) is still a handler. Reads the snapshot's bare
git directory with `git ls-tree`/`git cat-file`, never a work tree, so the list is reproducible from the pin alone.

    python bench/real_world/select_handlers.py <owner>/<name> [--commit C] [--under FOLDER]

Prints the YAML entry (repository, commit, handlers) to paste into corpus.yaml; the commit defaults to the
snapshot's HEAD, the snapshot is found as bench/scan_real_world.py finds it ($DV_REAL_WORLD_MIRROR, /work/.mirror).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
from pathlib import Path, PurePosixPath

import yaml

HANDLER_DEF = re.compile(rb"^def (lambda_handler|handler)\(", re.MULTILINE)
TEST_FOLDERS = frozenset({"test", "tests", "unit_tests", "integration_tests", "__tests__"})


def gitdir_of(repository: str) -> Path:
    mirror = Path(os.environ.get("DV_REAL_WORLD_MIRROR", "/work/.mirror"))
    return mirror / repository.replace("/", "+") / "repo"


def git(gitdir: Path, *args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["git", "--git-dir", str(gitdir), *args], input=stdin, check=True,
                          capture_output=True, timeout=600).stdout


def candidate_paths(gitdir: Path, commit: str, under: str | None) -> list[str]:
    listing = git(gitdir, "ls-tree", "-r", "-z", "--name-only", commit, *([under] if under else []))
    paths = []
    for raw in listing.split(b"\0"):
        path = PurePosixPath(raw.decode("utf-8", "surrogateescape"))
        if path.suffix != ".py" or not path.name:
            continue
        if any(p in TEST_FOLDERS or p.startswith("test_") for p in path.parent.parts):
            continue
        if path.stem.isidentifier():
            paths.append(str(path))
    return sorted(paths)


def blobs(gitdir: Path, commit: str, paths: list[str]) -> dict[str, bytes]:
    """All the files' contents from one `git cat-file --batch` (one process, not one per file)."""
    request = "".join(f"{commit}:{p}\n" for p in paths).encode("utf-8", "surrogateescape")
    output = git(gitdir, "cat-file", "--batch", stdin=request)
    found: dict[str, bytes] = {}
    offset = 0
    for path in paths:
        header_end = output.index(b"\n", offset)
        header = output[offset:header_end].split()
        offset = header_end + 1
        if header[-1] == b"missing":
            continue
        size = int(header[2])
        if header[1] == b"blob":
            found[path] = output[offset:offset + size]
        offset += size + 1
    return found


def handlers(gitdir: Path, commit: str, under: str | None) -> list[str]:
    selected = []
    for path, source in blobs(gitdir, commit, candidate_paths(gitdir, commit, under)).items():
        # One entry per function name; a file defining both is listed under both (it has two entry points).
        for name in sorted({m.group(1).decode() for m in HANDLER_DEF.finditer(source)}):
            selected.append(f"{path}:{name}")
    return sorted(selected)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repository", help="owner/name")
    parser.add_argument("--commit", help="default: the snapshot's HEAD")
    parser.add_argument("--under", help="only this folder of the repository (e.g. examples)")
    args = parser.parse_args()
    gitdir = gitdir_of(args.repository)
    commit = args.commit or git(gitdir, "rev-parse", "HEAD").decode().strip()
    entry = {"repository": args.repository, "commit": commit, "handlers": handlers(gitdir, commit, args.under)}
    print(yaml.safe_dump([entry], sort_keys=False, width=200), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
