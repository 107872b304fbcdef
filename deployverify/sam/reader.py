"""Reads a SAM template.yaml keeping the line of every value: short tags become their long form (`!Ref X` ->
`{"Ref": "X"}`, `!Sub s` -> `{"Fn::Sub": s}`), and every error names the file, the line and the resource.

The one reader of template files: `init`, the local stack and the deployed-config check all start here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deployverify.core.errors import DeployVerifyError
from deployverify.core.yaml_limits import BoundedSafeLoader, YamlRefused, describe_yaml_error, refuse_oversized
from deployverify.target.yamlnodes import Path_, format_path, nearest_line

# CloudFormation's short-form tags. `!Ref` and `!Condition` keep their bare key; the rest become `Fn::<Name>`.
SHORT_TAGS = frozenset({
    "Ref", "Condition", "Sub", "GetAtt", "If", "Join", "Select", "Split", "FindInMap", "Base64", "Cidr", "GetAZs",
    "ImportValue", "Equals", "And", "Or", "Not", "Transform", "ToJsonString", "Length",
})

# The names `sam build` and `sam deploy` look for when no --template-file is given, in their order.
DEFAULT_TEMPLATE_NAMES = ("template.yaml", "template.yml", "template.json")


def default_template(folder: Path) -> Path:
    """The template SAM would read in `folder`: the first of its default names that exists, else template.yaml
    (so the error names the file a user expects)."""
    return next((folder / name for name in DEFAULT_TEMPLATE_NAMES if (folder / name).is_file()),
                folder / DEFAULT_TEMPLATE_NAMES[0])


@dataclass(frozen=True)
class SamDocument:
    """The template's value plus the line of each path in it."""

    path: Path
    value: dict[str, Any]
    lines: dict[Path_, int]

    def line(self, path: Path_) -> int:
        return nearest_line(self.lines, path)

    def where(self, path: Path_) -> str:
        """`template.yaml:14 Resources.Worker.Properties.Handler`: the resource is the second part of the path."""
        return f"{self.path}:{self.line(path)} {format_path(path)}"

    def error(self, path: Path_, message: str) -> DeployVerifyError:
        return DeployVerifyError(message, where=self.where(path))

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.value["Resources"]
        return resources


def _tagged(tag: str, value: Any, where: str) -> Any:
    name = tag[1:]
    if name not in SHORT_TAGS:
        raise DeployVerifyError(f"unknown intrinsic function {tag}: CloudFormation knows "
                                f"{', '.join('!' + t for t in sorted(SHORT_TAGS))}", where=where)
    if name in ("Ref", "Condition"):
        return {name: value}
    return {f"Fn::{name}": value}


def _compose(text: str, path: Path) -> yaml.Node:
    # Bounded like the target loader: alias bombs, deep nesting and huge files are refused with one line.
    too_big = refuse_oversized(len(text.encode("utf-8", "surrogatepass")))
    if too_big:
        raise DeployVerifyError(too_big, where=str(path))
    try:
        root = yaml.compose(text, Loader=BoundedSafeLoader)
    except YamlRefused as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise DeployVerifyError(f"refused: {exc.problem}", where=f"{path}:{line}") from None
    except yaml.YAMLError as exc:
        problem, at_line = describe_yaml_error(exc)
        raise DeployVerifyError(f"invalid YAML: {problem}", where=f"{path}:{at_line or 1}") from None
    if root is None:
        raise DeployVerifyError("the template is empty", where=f"{path}:1")
    return root


def load_document(path: Path) -> SamDocument:
    try:
        too_big = refuse_oversized(path.stat().st_size)
        if too_big:
            raise DeployVerifyError(too_big, where=str(path))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeployVerifyError("no SAM template here; pass --template FILE", where=str(path)) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DeployVerifyError(f"cannot read the template: {exc.__class__.__name__}", where=str(path)) from None
    return document_from_text(text, path)


def document_from_text(text: str, path: Path) -> SamDocument:
    """The template in `text`; `path` names it in errors."""
    root = _compose(text, path)
    lines: dict[Path_, int] = {}
    constructor = yaml.SafeLoader("")

    def build(node: yaml.Node, at: Path_) -> Any:
        lines.setdefault(at, node.start_mark.line + 1)  # a mapping value keeps its key's line
        where = f"{path}:{node.start_mark.line + 1} {format_path(at)}"
        if isinstance(node, yaml.MappingNode):
            value: Any = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise DeployVerifyError("keys must be plain strings", where=where)
                key = str(key_node.value)
                key_where = f"{path}:{key_node.start_mark.line + 1} {format_path((*at, key))}"
                if key == "<<":
                    raise DeployVerifyError("YAML merge keys (<<) are not supported by CloudFormation",
                                            where=key_where)
                if key in value:
                    raise DeployVerifyError(f"duplicate key {key!r} (CloudFormation rejects it)", where=key_where)
                lines[(*at, key)] = key_node.start_mark.line + 1
                value[key] = build(value_node, (*at, key))
        elif isinstance(node, yaml.SequenceNode):
            value = [build(item, (*at, index)) for index, item in enumerate(node.value)]
        elif node.tag.startswith("!"):
            value = node.value  # a tagged scalar (`!Ref Name`) is its plain text
        else:
            try:
                value = constructor.construct_object(node)
            except yaml.constructor.ConstructorError as exc:
                raise DeployVerifyError(f"invalid value: {exc.problem}", where=where) from None
            except (ValueError, OverflowError, TypeError) as exc:  # scalars YAML types but Python cannot hold
                raise DeployVerifyError(f"invalid value: {exc}", where=where) from None
        if node.tag.startswith("!"):
            return _tagged(node.tag, value, where)
        return value

    data = build(root, ())
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise DeployVerifyError("not a SAM template: no Resources mapping", where=f"{path}:1")
    return SamDocument(path=path, value=data, lines=lines)


def read_template(path: Path) -> dict[str, Any]:
    """The template as plain data (short tags in their long form), for readers that need no line numbers."""
    return load_document(path).value


def parse_template(text: str, filename: str) -> dict[str, Any]:
    """The template in `text` as plain data; `filename` only names it in errors."""
    return document_from_text(text, Path(filename)).value
