"""Declared secrets: fetch them, hide their values, and check them against the schema the target declares.

Every value is registered with `deployverify.core.redact` the moment it is parsed, before anything can print it, and no
message built here quotes a value: only key names and JSON types. The schema is real JSON Schema, built from the
target's `secrets[]` entry: `required` keys, `aliases` (any one spelling satisfies the key) and `types`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from botocore.exceptions import BotoCoreError, ClientError

from deployverify.core import redact
from deployverify.core.errors import SecretError
from deployverify.target.model import Secret

_JSON_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
                    "object": "an object", "array": "a list", "null": "null"}


@dataclass(frozen=True)
class FetchedSecret:
    """A parsed secret, fetched by `spec.id` (its Secrets Manager id or ARN; `spec.name` is the target's label).

    `values` is for the code that connects with it; everything printable uses `keys`.
    """

    spec: Secret
    values: Mapping[str, Any]
    version_id: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(sorted(self.values))

    def describe_keys(self) -> str:
        return ", ".join(f"`{k}`" for k in self.keys) or "no keys"

    def get(self, key: str) -> Any:
        """The value under `key` or under any of its declared aliases, in the order the target lists them."""
        for name in spellings(self.spec, key):
            if name in self.values:
                return self.values[name]
        return None

    def key_for(self, key: str) -> str | None:
        """Which spelling of `key` the secret actually uses."""
        return next((name for name in spellings(self.spec, key) if name in self.values), None)


class SecretUnreadable(SecretError):
    """A declared secret that cannot be fetched or parsed: `reason` and `fix` fill DV401's message."""

    def __init__(self, name: str, reason: str, fix: str) -> None:
        super().__init__(f"{reason}; {fix}", where=f"secret {name}")
        self.name = name
        self.reason = reason
        self.fix = fix


# Keys that mean the same thing in secrets written by different tools (RDS, CDK, hand-written).
COMMON_SPELLINGS: tuple[tuple[str, ...], ...] = (("database", "dbname", "db_name"), ("username", "user"),
                                                 ("host", "hostname"))


def spellings(spec: Secret, key: str) -> tuple[str, ...]:
    """`key` and its aliases: the canonical name first. An alias also finds its canonical group."""
    if key in spec.aliases:
        return (key, *spec.aliases[key])
    for canonical, aliases in spec.aliases.items():
        if key in aliases:
            return (canonical, *aliases)
    return (key,)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) or type(exc).__name__


_FIXES = {
    "ResourceNotFoundException": "create it or fix secrets[].name in the target file",
    "AccessDeniedException": "grant secretsmanager:GetSecretValue on it to the identity running deployverify",
    "DecryptionFailure": "grant kms:Decrypt on the secret's KMS key",
    "InvalidRequestException": "the secret is scheduled for deletion or disabled; restore it",
}


def fetch(client: Any, spec: Secret) -> FetchedSecret:
    """Read and parse one secret; every scalar value is registered for redaction before this returns."""
    try:
        response = client.get_secret_value(SecretId=spec.id)
    except ClientError as exc:
        code = _error_code(exc)
        raise SecretUnreadable(spec.id, code, _FIXES.get(code, "check the name, region and credentials")) from None
    except BotoCoreError as exc:
        raise SecretUnreadable(spec.id, redact.redact(f"{type(exc).__name__}: {exc}"),
                               "check the endpoint, region and credentials") from None
    raw = response.get("SecretString")
    if raw is None:
        raise SecretUnreadable(spec.id, "it holds SecretBinary, not a JSON SecretString",
                               "store the settings as a JSON object")
    return parse_secret_string(spec, raw, response.get("VersionId"))


# Secrets Manager stores at most 65,536 bytes, and a settings object is flat: anything nested deeper is not a
# secret this harness can use, and json.loads would recurse once per level.
_MAX_NESTING = 32


def parse_secret_string(spec: Secret, raw: str, version_id: str | None = None) -> FetchedSecret:
    """The SecretString as a settings object, or one SecretUnreadable that never quotes the text."""
    redact.register(raw)
    if _nesting(raw) > _MAX_NESTING:
        raise SecretUnreadable(spec.id, f"its SecretString nests more than {_MAX_NESTING} levels deep",
                               "store a flat JSON object of settings")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        # The decoder's message quotes the text around the error: never show it.
        raise SecretUnreadable(spec.id, f"its SecretString is not JSON (error at character {exc.pos})",
                               "store a JSON object") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer longer than Python converts
        raise SecretUnreadable(spec.id, f"its SecretString cannot be read as JSON ({type(exc).__name__})",
                               "store a JSON object") from None
    if not isinstance(data, dict):
        raise SecretUnreadable(spec.id, f"its SecretString is JSON {_json_type(data)}, not an object",
                               "store a JSON object")
    _register_nested(data)
    return FetchedSecret(spec=spec, values=data, version_id=version_id)


def _nesting(text: str) -> int:
    """The deepest bracket nesting outside JSON strings, counted without recursion (json.loads would recurse)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


def suggest_key(secret: FetchedSecret, key: str) -> str | None:
    """The key the secret has that the code most likely means by `key`: a declared alias, a common spelling, or a
    close match."""
    groups = [spellings(secret.spec, key), *(g for g in COMMON_SPELLINGS if key in g)]
    for group in groups:
        present = next((name for name in group if name in secret.values and name != key), None)
        if present is not None:
            return present
    close = difflib.get_close_matches(key, list(secret.values), n=1, cutoff=0.6)
    return close[0] if close else None


def _register_nested(value: Any) -> None:
    if isinstance(value, dict):
        redact.register_mapping({k: v for k, v in value.items() if not isinstance(v, dict | list)})
        for nested in value.values():
            if isinstance(nested, dict | list):
                _register_nested(nested)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                _register_nested(item)
            elif isinstance(item, str | int | float) and not isinstance(item, bool):
                redact.register(item)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def json_schema(spec: Secret) -> dict[str, Any]:
    """The JSON Schema a secret must satisfy: each required key under one of its spellings, each typed key typed."""
    all_of: list[dict[str, Any]] = []
    for key in spec.required:
        names = spellings(spec, key)
        if len(names) == 1:
            all_of.append({"required": [key]})
        else:
            all_of.append({"anyOf": [{"required": [name]} for name in names]})
    properties: dict[str, Any] = {}
    for key, type_name in spec.types.items():
        for name in spellings(spec, key):
            properties[name] = {"type": type_name}
    schema: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                              "properties": properties}
    if all_of:
        schema["allOf"] = all_of
    return schema


@dataclass(frozen=True)
class SchemaProblem:
    """One way a secret breaks its schema, described by key names and JSON types only."""

    key: str
    problem: str
    fix: str


def validate(secret: FetchedSecret) -> list[SchemaProblem]:
    validator = jsonschema.Draft202012Validator(json_schema(secret.spec))
    problems: list[SchemaProblem] = []
    for error in sorted(validator.iter_errors(dict(secret.values)), key=lambda e: list(e.schema_path)):
        problems.extend(_describe(secret, error))
    return problems


def _describe(secret: FetchedSecret, error: jsonschema.ValidationError) -> list[SchemaProblem]:
    # jsonschema's own messages quote the instance, i.e. the secret's values: build every message from the schema.
    if error.validator == "anyOf":
        branches: list[dict[str, list[str]]] = list(error.validator_value)  # type: ignore[arg-type]
        names = [branch["required"][0] for branch in branches]
        alternatives = ", ".join(f"`{n}`" for n in names[1:])
        return [SchemaProblem(names[0], f"lacks `{names[0]}` (accepted spellings: {alternatives})",
                              f"add `{names[0]}` (or one of its spellings) to the secret")]
    if error.validator == "required":
        required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
        missing = [k for k in required if k not in secret.values]
        return [SchemaProblem(k, f"lacks `{k}`", f"add `{k}` to the secret") for k in missing]
    if error.validator == "type":
        key = str(error.absolute_path[0]) if error.absolute_path else "(top level)"
        wanted = _JSON_TYPE_NAMES.get(str(error.validator_value), str(error.validator_value))
        found = _JSON_TYPE_NAMES.get(_json_type(error.instance), _json_type(error.instance))
        return [SchemaProblem(key, f"has `{key}` as {found}, the schema says {wanted}",
                              f"store `{key}` as {wanted} or fix secrets[].types")]
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    return [SchemaProblem(key, f"breaks the schema at `{key}` ({error.validator})", "fix the secret")]
