"""Cheap walks over the syntax tree for the scan's hot loops.

`ast.iter_child_nodes` runs two generators and an isinstance test per field of every node; the scan walks most
nodes of the code it reaches several times, so these helpers read each node class's fields once and skip the
leaves no caller looks at (expression contexts and operators, which have no children). They yield the children
in the same order `ast.iter_child_nodes` does, so a walk built on them visits nodes in the same order.

`expression_binding_lines` lets a walk skip whole expressions: only a comprehension or an assignment expression
binds a name inside an expression, and either needs the `for` or `:=` token on one of the expression's lines.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from collections.abc import Sequence

# Nodes without children that no scan walk needs: `Load`/`Store`, `+`, `and`, `==` ...
_SKIPPED = (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop)
# Field types (from the node classes' ASDL signatures) that never hold a node a walk yields.
_LEAF_TYPES = frozenset({"identifier", "string", "constant", "int", "expr_context", "boolop", "operator", "unaryop",
                         "cmpop"})
_SIGNATURE = re.compile(r"^\w+\((?P<fields>.*)\)$")
_FIELDS: dict[type, tuple[str, ...]] = {}
# `for` as a token: what follows is not part of a longer identifier (`format`, `fork`). Preceding characters are
# not checked: `[1for x in y]` is valid Python, and a false match only costs a longer walk.
_BINDING_TOKEN = re.compile(rb"for(?![A-Za-z0-9_])|:=")


def _node_fields(cls: type) -> tuple[str, ...]:
    """The fields of `cls` that may hold child nodes: all of `_fields` but those whose declared type is a name, a
    constant or an operator (`Name(identifier id, expr_context ctx)` has none). Every field when the class's
    signature cannot be read."""
    fields = tuple(getattr(cls, "_fields", ()))
    match = _SIGNATURE.match((cls.__doc__ or "").strip())
    if match is None:
        return fields
    declared = [part.split() for part in match["fields"].split(",")] if match["fields"].strip() else []
    if [d[-1] for d in declared if len(d) == 2] != list(fields) or any(len(d) != 2 for d in declared):
        return fields
    return tuple(name for kind, name in declared if kind.rstrip("?*") not in _LEAF_TYPES)


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """`list(ast.iter_child_nodes(node))` without expression contexts and operators."""
    cls = node.__class__
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = _node_fields(cls)
    found: list[ast.AST] = []
    for name in fields:
        value = getattr(node, name, None)
        if value.__class__ is list:
            for item in value:
                if isinstance(item, ast.AST) and not isinstance(item, _SKIPPED):
                    found.append(item)
        elif isinstance(value, ast.AST) and not isinstance(value, _SKIPPED):
            found.append(value)
    return found


def expression_binding_lines(source: bytes) -> tuple[int, ...] | None:
    """The lines (1-based, sorted) holding a `for` or `:=` token, or something that looks like one; None when the
    source's line breaks are not all `\\n` (the parser also breaks lines at a lone `\\r`), meaning every line."""
    if b"\r" in source:
        return None
    lines: list[int] = []
    line, position = 1, 0
    for match in _BINDING_TOKEN.finditer(source):
        line += source.count(b"\n", position, match.start())
        position = match.start()
        if not lines or lines[-1] != line:
            lines.append(line)
    return tuple(lines)


def may_bind(expr: ast.expr | ast.stmt, lines: Sequence[int] | None) -> bool:
    """Whether `expr` (or a simple statement) may hold a comprehension or `:=` (see expression_binding_lines);
    False rules it out."""
    if lines is None:
        return True
    index = bisect_left(lines, expr.lineno)
    end = expr.end_lineno if expr.end_lineno is not None else expr.lineno
    return index < len(lines) and lines[index] <= end
