"""The abstract values the resolver gives an expression: which first-party functions, classes, instances and
modules it may denote. A set of values over-approximates: every member is something the expression may be.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from deployverify.gate.stubscan.symbols import ClassInfo, FuncInfo


@dataclass(frozen=True, slots=True)
class FunctionValue:
    """A first-party function (or a method looked up on a receiver whose class is known exactly)."""

    fn: FuncInfo
    origin: FuncInfo | None = None  # where the receiver it was looked up on was made (for call paths)


@dataclass(frozen=True, slots=True)
class ClassValue:
    """A first-party class itself: calling it makes an instance."""

    cls: ClassInfo


@dataclass(frozen=True, slots=True)
class InstanceValue:
    """An instance of a first-party class."""

    cls: ClassInfo
    exact: bool  # made by calling the class here; otherwise "this class or a subclass" (annotation, self)
    origin: FuncInfo | None = None


@dataclass(frozen=True, slots=True)
class ModuleValue:
    """A first-party module, by its import name."""

    name: str


@dataclass(frozen=True, slots=True)
class ContainerValue:
    """A dict, list, tuple, set or comprehension: stands for all of its elements (dispatch tables)."""

    items: frozenset[Value]


@dataclass(frozen=True, slots=True)
class ContainerMethodValue:
    """A container's `.get`, `.pop`, `.values` ...: calling it gives back the container's elements."""

    items: frozenset[Value]


@dataclass(frozen=True, slots=True)
class VirtualMethodValue:
    """A method looked up on "this class or a subclass": a call dispatches to every instantiated override."""

    cls: ClassInfo
    attr: str
    origin: FuncInfo | None = None


@dataclass(frozen=True, slots=True)
class SuperValue:
    """What `super()` gives inside a method of `cls`: attribute lookups start after `cls` in its MRO."""

    cls: ClassInfo


@dataclass(frozen=True, slots=True)
class RegistryValue:
    """An object that holds functions registered on it by decorator and calls them later: a Powertools resolver or
    router (`app = APIGatewayRestResolver()`), or a module-level dict/list a first-party decorator fills.

    `key` names the object (where it was made); `label` is how call paths show it (`app`)."""

    key: str
    label: str
    kind: str  # "powertools" or "registry"


Value = (FunctionValue | ClassValue | InstanceValue | ModuleValue | ContainerValue | ContainerMethodValue
         | VirtualMethodValue | SuperValue | RegistryValue)
Values = frozenset[Value]
EMPTY: Values = frozenset()


def union_of(parts: Iterable[Values]) -> Values:
    """The union of value sets; reuses the first non-empty set instead of copying it (the common case is one)."""
    found: Values = EMPTY
    for part in parts:
        if part:
            found = found | part if found else part
    return found
