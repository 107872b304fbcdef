"""Evaluate `if sys.version_info >= (3, 11):` and `if sys.platform == "win32":` for the Lambda runtime.

Imports under such tests run only on some interpreters (`import tomllib` on 3.11+, `import tomli` before). The test
is evaluated with the runtime's version and Lambda's platform ("linux"); anything this small evaluator does not
understand counts as true, so an import is only ever skipped when its branch certainly does not run.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

PLATFORM = "linux"

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


class _Unknown(Exception):
    pass


def _is_sys(node: ast.expr, attribute: str) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == attribute and isinstance(node.value, ast.Name)
            and node.value.id == "sys")


def _value(node: ast.expr, version: tuple[int, int]) -> Any:
    version_info = (version[0], version[1], 0, "final", 0)
    if _is_sys(node, "version_info"):
        return version_info
    if _is_sys(node, "platform"):
        return PLATFORM
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_value(e, version) for e in node.elts)
    if isinstance(node, ast.Attribute) and _is_sys(node.value, "version_info") and node.attr in ("major", "minor"):
        return version_info[0 if node.attr == "major" else 1]
    if isinstance(node, ast.Subscript):
        base = _value(node.value, version)
        if isinstance(node.slice, ast.Slice):
            lower = _value(node.slice.lower, version) if node.slice.lower else None
            upper = _value(node.slice.upper, version) if node.slice.upper else None
            return base[lower:upper]
        return base[_value(node.slice, version)]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "startswith"
            and len(node.args) == 1 and not node.keywords):
        return str(_value(node.func.value, version)).startswith(_value(node.args[0], version))
    return _truth(node, version)


def _truth(node: ast.expr, version: tuple[int, int]) -> bool:
    if isinstance(node, ast.BoolOp):
        values = [_truth(v, version) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _truth(node.operand, version)
    if isinstance(node, ast.Compare):
        left = _value(node.left, version)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _value(comparator, version)
            compare = _COMPARE.get(type(op))
            if compare is None:
                raise _Unknown
            if not compare(left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call | ast.Constant):
        return bool(_value(node, version))
    raise _Unknown


def branch_runs(test: str, taken: bool, version: tuple[int, int]) -> bool:
    """Does the branch (`taken`: the if-body; else: the else-branch) of `test` run on Lambda's Python `version`?"""
    try:
        expression = ast.parse(test, mode="eval").body
        return _truth(expression, version) is taken
    except (_Unknown, SyntaxError, TypeError, IndexError, ValueError):
        return True


def runs_on(conditions: tuple[tuple[str, bool], ...], version: tuple[int, int]) -> bool:
    return all(branch_runs(test, taken, version) for test, taken in conditions)
