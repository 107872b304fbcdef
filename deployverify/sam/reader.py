"""Reads a SAM template.yaml: CloudFormation short tags become their long form, errors name the file and line.

The one reader of template files: `init`, the local stack and the deployed-config check all start here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deployverify.core.errors import DeployVerifyError
from deployverify.core.yaml_limits import BoundedSafeLoader, YamlRefused, describe_yaml_error, refuse_oversized


class _SamLoader(BoundedSafeLoader):
    """Reads CloudFormation short tags (!Ref, !Sub, !GetAtt, ...) as plain values instead of failing.

    Bounded like the target loader: alias bombs, deep nesting and huge files are refused with one line.
    """


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {f"Fn::{suffix}" if suffix != "Ref" else "Ref": loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {f"Fn::{suffix}": loader.construct_sequence(node, deep=True)}
    return {f"Fn::{suffix}": loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_SamLoader.add_multi_constructor("!", _tag)


def read_template(path: Path) -> dict[str, Any]:
    try:
        too_big = refuse_oversized(path.stat().st_size)
        if too_big:
            raise DeployVerifyError(too_big, where=str(path))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeployVerifyError("no SAM template here; pass --template FILE", where=str(path)) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DeployVerifyError(f"cannot read: {exc.__class__.__name__}", where=str(path)) from None
    return parse_template(text, str(path))


def parse_template(text: str, filename: str) -> dict[str, Any]:
    """The template in `text`; `filename` only names it in errors."""
    too_big = refuse_oversized(len(text.encode("utf-8", "surrogatepass")))
    if too_big:
        raise DeployVerifyError(too_big, where=filename)
    try:
        data = yaml.load(text, Loader=_SamLoader)  # noqa: S506 - SafeLoader subclass
    except YamlRefused as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise DeployVerifyError(f"refused: {exc.problem}", where=f"{filename}:{line}") from None
    except yaml.YAMLError as exc:
        problem, at_line = describe_yaml_error(exc)
        raise DeployVerifyError(f"invalid YAML: {problem}", where=f"{filename}:{at_line or 1}") from None
    except (ValueError, OverflowError, TypeError) as exc:  # scalars YAML types but Python cannot hold
        raise DeployVerifyError(f"invalid value: {exc}", where=filename) from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise DeployVerifyError("not a SAM template: no Resources mapping", where=filename)
    return data


def functions(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    globals_ = _mapping(_mapping(template.get("Globals")).get("Function"))
    found = []
    for name, resource in template["Resources"].items():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function":
            found.append((str(name), {**globals_, **_mapping(resource.get("Properties"))}))
    return found


def _mapping(value: Any) -> dict[str, Any]:
    """A section that should be a mapping; anything else (missing, a list, a scalar) reads as empty."""
    return value if isinstance(value, dict) else {}
