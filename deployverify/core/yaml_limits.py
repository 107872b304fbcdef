"""Bounds on the YAML we read (target files, SAM templates), checked while the document is composed.

PyYAML composes aliases as shared nodes, so a nine-level "billion laughs" document is tiny in memory but any walk
that copies it (our line-aware loader, jsonschema, the template reader's callers) touches 9**9 values and hangs.
Its composer also recurses once per nesting level, so a 5,000-deep list ends in RecursionError. The guards below
count each node's size *with aliases expanded* and the nesting depth as the composer goes, and refuse the document
the moment a bound is crossed: before any expansion happens, in time proportional to the text.
"""

from __future__ import annotations

from typing import Any

import yaml

# Target files are a few hundred lines and SAM templates rarely pass 100 KB (CloudFormation itself refuses templates
# above 1 MB); these bounds leave a wide margin over real files and stay far below what hangs or recurses.
MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 200_000


class YamlRefused(yaml.MarkedYAMLError):
    """A document refused by a bound: `problem` says which bound and what to do, `problem_mark` where it was hit."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


def refuse_oversized(size: int) -> str | None:
    """The reason a text of `size` bytes is refused before parsing, or None when it may be read."""
    if size > MAX_BYTES:
        return f"the file is {size} bytes, more than the {MAX_BYTES} bytes deployverify reads; is this the right file?"
    return None


def describe_yaml_error(exc: yaml.YAMLError) -> tuple[str, int | None]:
    """One line for a PyYAML error and the 1-based line it points at (None when it has no position)."""
    if isinstance(exc, yaml.reader.ReaderError):  # its str() spans two lines and names "<unicode string>"
        return f"character {exc.character!r} is not allowed in YAML ({exc.reason})", None
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        return problem, (mark.line + 1 if mark else None)
    return " ".join(str(exc).split()), None


class BoundedComposer:
    """Mixin for a PyYAML Loader: compose_node refuses deep nesting, recursive aliases and alias expansion bombs."""

    _depth: int
    _sizes: dict[int, int]

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not hasattr(self, "_sizes"):
            self._depth, self._sizes = 0, {}
        event = self.peek_event()  # type: ignore[attr-defined]
        if self._depth >= MAX_DEPTH:
            raise YamlRefused(f"nested more than {MAX_DEPTH} levels deep; deployverify refuses deeper documents",
                              event.start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1
        if isinstance(event, yaml.AliasEvent):
            if id(node) not in self._sizes:
                raise YamlRefused(f"alias *{event.anchor} refers to a value that contains it (a recursive alias)",
                                  event.start_mark)
            return node
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(child)] for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._sizes[id(key)] + self._sizes[id(value)] for key, value in node.value)
        if size > MAX_EXPANDED_NODES:
            raise YamlRefused(f"expands to more than {MAX_EXPANDED_NODES} values once aliases (*name) are followed; "
                              "write the values out or use fewer aliases", event.start_mark)
        self._sizes[id(node)] = size
        return node


class BoundedSafeLoader(BoundedComposer, yaml.SafeLoader):
    """yaml.SafeLoader with the bounds above."""
