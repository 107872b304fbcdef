"""One Docker adapter: only deployverify/lambda_image/docker.py talks to the Docker SDK, and Lambda's user is written
down once, so the gate's probe sandbox and the local stack run the Lambda image the same way."""

from __future__ import annotations

import ast
from pathlib import Path

import deployverify

PACKAGE = Path(deployverify.__file__).resolve().parent
ADAPTER = PACKAGE / "lambda_image" / "docker.py"


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def imports_docker_sdk(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "docker" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "docker":
            return True
    return False


def test_only_the_adapter_imports_the_docker_sdk() -> None:
    found = [str(p.relative_to(PACKAGE)) for p in modules() if imports_docker_sdk(ast.parse(p.read_text()))]
    assert found == [str(ADAPTER.relative_to(PACKAGE))]


def test_lambdas_user_is_defined_once() -> None:
    defining = [str(p.relative_to(PACKAGE)) for p in modules()
                if any(isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "LAMBDA_USER"
                                                            for t in node.targets)
                       for node in ast.walk(ast.parse(p.read_text())))]
    assert defining == [str(ADAPTER.relative_to(PACKAGE))]
