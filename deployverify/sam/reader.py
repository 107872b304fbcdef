"""Reads a SAM template.yaml: CloudFormation short tags become their long form, errors name the file and line.

The one reader of template files: `init`, the local stack and the deployed-config check all start here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deployverify.core.errors import DeployVerifyError


class _SamLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !Sub, !GetAtt, ...) as plain values instead of failing."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {f"Fn::{suffix}" if suffix != "Ref" else "Ref": loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {f"Fn::{suffix}": loader.construct_sequence(node, deep=True)}
    return {f"Fn::{suffix}": loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_SamLoader.add_multi_constructor("!", _tag)


def read_template(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SamLoader)  # noqa: S506 - SafeLoader subclass
    except FileNotFoundError:
        raise DeployVerifyError("no SAM template here; pass --template FILE", where=str(path)) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise DeployVerifyError(f"invalid YAML: {exc.problem}", where=f"{path}:{line}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise DeployVerifyError("not a SAM template: no Resources mapping", where=str(path))
    return data


def functions(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    globals_ = template.get("Globals", {}).get("Function", {})
    found = []
    for name, resource in template["Resources"].items():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function":
            found.append((name, {**globals_, **resource.get("Properties", {})}))
    return found
