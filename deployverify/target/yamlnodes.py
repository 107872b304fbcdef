"""Load YAML keeping the line of every value, so errors can say `deployverify.yaml:14 functions[0].handler`.

Also expands `${VAR}` and `${VAR:-default}` in scalars. An unquoted scalar is re-typed after expansion, so
`memory_mb: ${MEM:-1024}` is an integer; a quoted one stays a string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

from deployverify.core.errors import TargetError
from deployverify.core.yaml_limits import BoundedSafeLoader, YamlRefused, describe_yaml_error, refuse_oversized

Path_ = tuple[str | int, ...]
_VAR = re.compile(r"\$(?:\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<escaped>\$))")


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*")


def format_path(path: Path_) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:  # a key with spaces, newlines or escape sequences is quoted, so the error stays one readable line
            text += f"[{part!r}]"
    return text or "(top level)"


def nearest_line(lines: dict[Path_, int], path: Path_) -> int:
    """The line of `path`, or of its nearest ancestor that has one (a value built from several nodes has none)."""
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path, 1)


class LocatedDocument:
    """The loaded value plus the line of each path in it."""

    def __init__(self, filename: str, value: Any, lines: dict[Path_, int]) -> None:
        self.filename = filename
        self.value = value
        self._lines = lines

    def line(self, path: Path_) -> int:
        return nearest_line(self._lines, path)

    def where(self, path: Path_) -> str:
        return f"{self.filename}:{self.line(path)} {format_path(path)}"

    def error(self, path: Path_, message: str) -> TargetError:
        return TargetError(message, where=self.where(path))


def interpolate(text: str, env: Mapping[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, default = match["name"], match["default"]
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise TargetError(f"environment variable {name} is not set and ${{{name}}} has no default "
                                  f"(write ${{{name}:-value}})", where=where)
            return default
        return value

    return _VAR.sub(replace, text)


def _where_of(lines: dict[Path_, int], filename: str) -> str:
    """The last path the walk reached, for an error raised while building its value."""
    last = next(reversed(lines), ())
    return f"{filename}:{lines.get(last, 1)} {format_path(last)}"


def load_located(text: str, filename: str, env: Mapping[str, str] | None = None) -> LocatedDocument:
    environ = os.environ if env is None else env
    too_big = refuse_oversized(len(text.encode("utf-8", "surrogatepass")))
    if too_big:
        raise TargetError(too_big, where=filename)
    try:
        root = yaml.compose(text, Loader=BoundedSafeLoader)
    except YamlRefused as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise TargetError(f"refused: {exc.problem}", where=f"{filename}:{line}") from None
    except yaml.YAMLError as exc:
        problem, at_line = describe_yaml_error(exc)
        raise TargetError(f"invalid YAML: {problem}", where=f"{filename}:{at_line or 1}") from None
    if root is None:
        raise TargetError("the file is empty", where=f"{filename}:1")
    lines: dict[Path_, int] = {}
    constructor = yaml.SafeLoader("")

    def build(node: yaml.Node, path: Path_) -> Any:
        lines[path] = node.start_mark.line + 1
        where = f"{filename}:{node.start_mark.line + 1} {format_path(path)}"
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise TargetError("keys must be plain strings", where=where)
                key = str(key_node.value)
                if "\x00" in key:
                    raise TargetError("a NUL character (\\0) is not allowed in a key", where=where)
                if key == "<<":
                    raise TargetError("YAML merge keys (<<) are not supported", where=where)
                if key in result:
                    line = key_node.start_mark.line + 1
                    raise TargetError(f"duplicate key {key!r}", where=f"{filename}:{line} {format_path((*path, key))}")
                lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = build(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*path, index)) for index, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        if node.tag.startswith("!"):
            raise TargetError(f"YAML tag {node.tag} is not allowed here", where=where)
        if "\x00" in node.value:  # no setting can hold one, and every path or name built from it would break
            raise TargetError("a NUL character (\\0) is not allowed in a value", where=where)
        if "$" in node.value:
            expanded = interpolate(node.value, environ, where)
            if node.style is None:  # plain scalar: let YAML type the expanded text (numbers, booleans)
                tag = constructor.resolve(yaml.ScalarNode, expanded, (True, False))  # type: ignore[no-untyped-call]
                return constructor.construct_object(yaml.ScalarNode(tag, expanded))
            return expanded
        return constructor.construct_object(node)

    try:
        value = build(root, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        problem = " ".join(str(exc.problem).split())
        raise TargetError(f"invalid value: {problem}", where=f"{filename}:{mark.line + 1 if mark else 1}") from None
    except (ValueError, OverflowError) as exc:  # a scalar YAML types but Python cannot hold: 2024-13-45, 5000 digits
        raise TargetError(f"invalid value: {exc}", where=_where_of(lines, filename)) from None
    return LocatedDocument(filename, value, lines)
