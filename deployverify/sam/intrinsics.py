"""Resolves CloudFormation intrinsics before deploy, as far as the template alone allows.

Parameters resolve to their defaults (or overrides), pseudo parameters to the values the caller knows (a region,
say), `!If` through the template's Conditions, `!FindInMap` through its Mappings. What only a deployed stack knows
(a resource's name or ARN, an import, an unknown pseudo parameter) becomes `Unresolved`: the key stays, its value
says what it waits for. A function CloudFormation does not have, or a reference to nothing, is an input error that
names the file, the line and the resource.

A caller that creates the resources itself (the local stack) passes `ResourceValues`: a resource's `!Ref` and
`!GetAtt` then resolve to the names and ARNs it knows, and only what it does not know stays `Unresolved`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from deployverify.sam.generated import generated_resources, referenceable_property_problem
from deployverify.sam.reader import SamDocument
from deployverify.target.yamlnodes import Path_

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# Only the deployed stack knows these; resolving them to a guess would hide that.
_DEPLOY_TIME = frozenset({"Fn::GetAtt", "Fn::ImportValue", "Fn::GetAZs", "Fn::Cidr", "Fn::Transform"})
_CONDITION_ONLY = frozenset({"Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition"})
_COMPUTED = frozenset({"Ref", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::Select", "Fn::Split", "Fn::FindInMap",
                       "Fn::Base64", "Fn::ToJsonString", "Fn::Length"})
KNOWN_FUNCTIONS = _DEPLOY_TIME | _CONDITION_ONLY | _COMPUTED
PSEUDO_PARAMETERS = frozenset({"AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::StackId", "AWS::Partition",
                               "AWS::URLSuffix", "AWS::NotificationARNs", "AWS::NoValue"})


@dataclass(frozen=True)
class Unresolved:
    """A value CloudFormation computes at deploy. `expression` is brace-free so it fits in `${NAME:-...}`."""

    expression: str  # `!Ref OutputBucket`, `!GetAtt Queue.Arn`, `!Sub with AWS::AccountId`
    partial: str | None = None  # a !Sub's text with what it waits for left as ${Name}: keeps a layer ARN readable

    @property
    def placeholder(self) -> str:
        return f"<known at deploy: {self.expression}>"

    def __str__(self) -> str:
        return self.placeholder


class _NoValue:
    """`!Ref AWS::NoValue`: the property is removed, as if it were not written."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class ResourceValues(Protocol):
    """What a resource's `!Ref` and `!GetAtt` stand for, where the caller knows it; None where it does not."""

    def ref(self, logical: str) -> Any: ...

    def attribute(self, logical: str, attribute: str) -> Any: ...


class DeployTimeValues:
    """Before deploy nothing is known of a resource: every `!Ref` and `!GetAtt` of one stays Unresolved."""

    def ref(self, logical: str) -> Any:
        return None

    def attribute(self, logical: str, attribute: str) -> Any:
        return None


def _brace_free(text: str) -> str:
    return re.sub(r"[{}\"]", "", text)


def intrinsic_of(value: Any) -> tuple[str, Any] | None:
    """(function, argument) when `value` is one intrinsic call such as {"Fn::Sub": "..."}, else None."""
    if isinstance(value, dict) and len(value) == 1:
        (key, argument), = value.items()
        if key == "Ref" or key == "Condition" or key.startswith("Fn::"):
            return str(key), argument
    return None


def referenced_resource(value: Any, functions: frozenset[str] = frozenset({"Fn::GetAtt", "Ref"})) -> str | None:
    """The logical id in `!Ref X` or `!GetAtt X.Attribute` (whichever of `functions` it is), else None."""
    call = intrinsic_of(value)
    if call is None or call[0] not in functions:
        return None
    argument = call[1]
    if isinstance(argument, str):
        return argument.split(".", 1)[0]
    return str(argument[0]) if isinstance(argument, list) and argument else None


class Intrinsics:
    def __init__(self, document: SamDocument, parameters: Mapping[str, Any],
                 pseudo: Mapping[str, str] | None = None, resources: ResourceValues | None = None) -> None:
        self.document = document
        self.parameters = dict(parameters)
        self.pseudo = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", **(pseudo or {})}
        # The template's resources and those the SAM transform adds, which its references may name too.
        self.resource_ids = frozenset(document.resources) | generated_resources(document.value)
        self.resources: ResourceValues = resources or DeployTimeValues()
        self._conditions: dict[str, Any] = document.value.get("Conditions") or {}
        self._mappings: dict[str, Any] = document.value.get("Mappings") or {}

    def resolve(self, value: Any, at: Path_) -> Any:
        """`value` with every intrinsic resolved or replaced by `Unresolved`; `NO_VALUE` items are dropped."""
        call = intrinsic_of(value)
        if call is not None:
            return self._call(call[0], call[1], (*at, call[0]))
        if isinstance(value, dict):
            resolved = {k: self.resolve(v, (*at, k)) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(v, (*at, i)) for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        return value

    def resource_created(self, logical: str) -> bool | None:
        """Whether CloudFormation creates the resource: its `Condition:` evaluated (True without one), or None when
        the condition depends on something only the deploy knows."""
        resource = self.document.resources.get(logical)
        name = resource.get("Condition") if isinstance(resource, dict) else None
        if name is None:
            return True
        return self.condition({"Condition": name}, ("Resources", logical, "Condition"))

    def text(self, value: Any, at: Path_) -> str | Unresolved:
        """A resolved scalar as text (CloudFormation passes numbers and booleans as strings), or Unresolved."""
        return self._as_text(self.resolve(value, at), at)

    def texts(self, values: Mapping[str, Any], at: Path_) -> dict[str, str | Unresolved]:
        """Each value as text, as an environment's Variables reach Lambda: `!Ref AWS::NoValue` ones are left out."""
        resolved = {str(name): self.resolve(value, (*at, name)) for name, value in values.items()}
        return {name: self._as_text(value, (*at, name)) for name, value in resolved.items() if value is not NO_VALUE}

    def _as_text(self, resolved: Any, at: Path_) -> str | Unresolved:
        if isinstance(resolved, Unresolved):
            return resolved
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, str | int | float):
            return str(resolved)
        raise self.document.error(at, f"expected a single value here, found {type(resolved).__name__}")

    def ref(self, name: str, at: Path_) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in PSEUDO_PARAMETERS:
            return Unresolved(f"!Ref {name}")
        if name in self.resource_ids:
            known = self.resources.ref(name)
            return Unresolved(f"!Ref {name}") if known is None else known
        problem = referenceable_property_problem(self.document.value, name)
        if problem is None:  # `!Ref Worker.Alias`: SAM's name for a resource it generates
            return Unresolved(f"!Ref {name}")
        raise self.document.error(at, f"!Ref {name}: {problem}")

    def _call(self, function: str, argument: Any, at: Path_) -> Any:
        if function not in KNOWN_FUNCTIONS:
            raise self.document.error(at, f"unknown intrinsic function {function}: CloudFormation has "
                                          f"{', '.join(sorted(KNOWN_FUNCTIONS))}")
        if function == "Ref":
            return self.ref(str(argument), at)
        if function in _CONDITION_ONLY:
            outcome = self.condition({function: argument}, at)
            return Unresolved(_brace_free(f"!{function.removeprefix('Fn::')}")) if outcome is None else outcome
        if function == "Fn::GetAtt":
            logical, attribute = self._get_att_parts(argument, at)
            known = self.resources.attribute(logical, attribute)
            return Unresolved(f"!GetAtt {logical}.{attribute}") if known is None else known
        if function in _DEPLOY_TIME:
            return Unresolved(f"!{function.removeprefix('Fn::')}")
        if function == "Fn::Sub":
            return self._sub(argument, at)
        if function == "Fn::If":
            return self._if(argument, at)
        return self._computed(function, self.resolve(argument, at), at)

    def _get_att_parts(self, argument: Any, at: Path_) -> tuple[str, str]:
        parts = argument.split(".", 1) if isinstance(argument, str) else argument
        if not isinstance(parts, list) or len(parts) != 2:
            raise self.document.error(at, f"!GetAtt needs Resource.Attribute, found {argument!r}")
        logical = str(parts[0])
        if logical not in self.resource_ids:
            raise self.document.error(at, f"!GetAtt {logical}.{parts[1]}: no resource is named {logical!r}")
        return logical, str(self.text(parts[1], at))

    def _sub(self, argument: Any, at: Path_) -> str | Unresolved:
        if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text, variables = argument[0], {k: self.text(v, (*at, 1, k)) for k, v in argument[1].items()}
        elif isinstance(argument, str):
            text, variables = argument, {}
        else:
            raise self.document.error(at, "!Sub takes a string or [string, {variables}]")
        waiting: list[str] = []

        def one(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):  # `${!Literal}` is the text `${Literal}`
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                value = self._call("Fn::GetAtt", [logical, attribute], at)
            else:
                value = self.ref(name, at)
            if isinstance(value, Unresolved):
                waiting.append(name)
                return "${" + name + "}"
            return str(value)

        result = _SUB_VARIABLE.sub(one, str(text))
        return Unresolved(f"!Sub with {', '.join(dict.fromkeys(waiting))}", result) if waiting else result

    def _if(self, argument: Any, at: Path_) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise self.document.error(at, "!If takes [condition, value if true, value if false]")
        outcome = self.condition({"Condition": argument[0]}, at)
        if outcome is None:
            return Unresolved(f"!If {_brace_free(str(argument[0]))}")
        return self.resolve(argument[1] if outcome else argument[2], (*at, 1 if outcome else 2))

    def condition(self, value: Any, at: Path_, seen: frozenset[str] = frozenset()) -> bool | None:
        """True/False, or None when it depends on something only the deploy knows."""
        call = intrinsic_of(value)
        if call is None:
            raise self.document.error(at, f"expected a condition, found {value!r}")
        function, argument = call
        if function == "Condition":
            name = str(argument)
            if name not in self._conditions:
                raise self.document.error(at, f"condition {name!r} is not in the template's Conditions")
            if name in seen:
                raise self.document.error(("Conditions", name), f"condition {name!r} refers to itself")
            return self.condition(self._conditions[name], ("Conditions", name), seen | {name})
        if function == "Fn::Equals" and isinstance(argument, list) and len(argument) == 2:
            left, right = (self.text(v, (*at, i)) for i, v in enumerate(argument))
            if isinstance(left, Unresolved) or isinstance(right, Unresolved):
                return None
            return left == right
        if function in ("Fn::And", "Fn::Or", "Fn::Not") and isinstance(argument, list):
            outcomes = [self.condition(v, (*at, i), seen) for i, v in enumerate(argument)]
            if function == "Fn::Not":
                return None if outcomes[0] is None else not outcomes[0]
            if function == "Fn::And":
                return False if False in outcomes else (None if None in outcomes else True)
            return True if True in outcomes else (None if None in outcomes else False)
        raise self.document.error(at, f"{function} is not a condition function here")

    def _computed(self, function: str, argument: Any, at: Path_) -> Any:
        """Join, Select, Split, FindInMap, Base64, ToJsonString, Length on already resolved arguments."""
        waiting = first_unresolved(argument)
        if waiting is not None:
            return Unresolved(f"!{function.removeprefix('Fn::')} with {waiting.expression.removeprefix('!')}")
        try:
            if function == "Fn::Join":
                separator, items = argument
                return str(separator).join(str(i) for i in items)
            if function == "Fn::Select":
                index, items = argument
                return items[int(index)]
            if function == "Fn::Split":
                separator, text = argument
                return str(text).split(str(separator))
            if function == "Fn::FindInMap":
                mapping, first, second = argument[:3]
                return self._mappings[str(mapping)][str(first)][str(second)]
            if function == "Fn::Base64":
                return base64.b64encode(str(argument).encode()).decode()
            if function == "Fn::Length":
                return len(argument)
            if function == "Fn::ToJsonString":
                return json.dumps(argument, separators=(",", ":"))
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise self.document.error(at, f"{function} cannot be evaluated with {argument!r}: "
                                          f"{type(exc).__name__} {exc}") from None
        raise self.document.error(at, f"unknown intrinsic function {function}")


def check_functions(document: SamDocument) -> None:
    """Every long-form `Fn::` call in the template is one CloudFormation has, wherever it is (short tags are
    checked as the template is read)."""

    def walk(value: Any, at: Path_) -> None:
        if isinstance(value, dict):
            call = intrinsic_of(value)
            if call is not None and call[0] not in KNOWN_FUNCTIONS:
                raise document.error(at, f"unknown intrinsic function {call[0]}: CloudFormation has "
                                         f"{', '.join(sorted(KNOWN_FUNCTIONS))}")
            for key, item in value.items():
                walk(item, (*at, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*at, index))

    walk(document.value, ())


def first_unresolved(value: Any) -> Unresolved | None:
    """The first value inside `value` (a scalar, a list or a mapping) that only a deploy knows, else None."""
    if isinstance(value, Unresolved):
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return next((found for found in map(first_unresolved, items) if found is not None), None)
