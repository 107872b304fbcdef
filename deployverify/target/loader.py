"""From a target file to a validated `Target`, or one `TargetError` naming the file, line and field."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from deployverify.core.errors import HandlerError, TargetError
from deployverify.core.handler import parse_handler
from deployverify.core.yaml_limits import refuse_oversized
from deployverify.target import model
from deployverify.target.canary_section import build_canary
from deployverify.target.yamlnodes import LocatedDocument, Path_, load_located

_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
               "object": "a mapping", "array": "a list"}


@cache
def target_schema() -> dict[str, Any]:
    text = resources.files("deployverify").joinpath("schemas/target.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def load_target(path: str | Path, env: Mapping[str, str] | None = None) -> model.Target:
    file = Path(path)
    try:
        too_big = refuse_oversized(file.stat().st_size)
        if too_big:  # refused before reading: a multi-gigabyte file would otherwise be read whole
            raise TargetError(too_big, where=str(file))
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TargetError("no such file", where=str(file)) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TargetError(f"cannot read: {exc.__class__.__name__}", where=str(file)) from None
    doc = load_located(text, str(file), env)
    if not isinstance(doc.value, dict):
        raise doc.error((), "the top level must be a mapping of settings")
    _validate(doc)
    return _build(doc, file.resolve())


def _validate(doc: LocatedDocument) -> None:
    validator = jsonschema.Draft202012Validator(target_schema())
    errors = sorted(validator.iter_errors(doc.value), key=lambda e: (doc.line(tuple(e.absolute_path)), e.path))
    if errors:
        path, message = _describe(errors[0])
        raise doc.error(path, message)


def _describe(error: ValidationError) -> tuple[Path_, str]:
    path: Path_ = tuple(error.absolute_path)
    kind = error.validator
    instance: Any = error.instance
    schema: Any = error.schema
    expected: Any = error.validator_value
    if kind == "required":
        missing = next(k for k in expected if k not in instance)
        return (*path, missing), "required"
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(instance) - set(allowed))[0]
        close = difflib.get_close_matches(unknown, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (f"; allowed: {', '.join(allowed)}" if allowed else "")
        return (*path, unknown), f"unknown key {unknown!r}{hint}"
    if kind == "type":
        wanted = expected
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        return path, f"expected {' or '.join(_TYPE_NAMES.get(n, n) for n in names)}, got {instance!r}"
    if kind == "enum":
        return path, f"{instance!r} is not one of {', '.join(map(repr, expected))}"
    if kind == "pattern":
        return path, f"{error.instance!r} is not valid here (expected to match {expected})"
    if kind in ("minimum", "maximum", "exclusiveMinimum"):
        return path, f"{error.instance!r} is out of range ({kind} {expected})"
    if kind in ("minItems", "minLength"):
        return path, "must not be empty"
    return path, error.message


def _path(doc: LocatedDocument, base: Path, value: str | None) -> Path | None:
    return None if value is None else (base / value).resolve()


def _build(doc: LocatedDocument, source: Path) -> model.Target:
    raw: dict[str, Any] = doc.value
    base = source.parent
    names = set()
    functions = []
    for index, fn in enumerate(raw["functions"]):
        try:
            parse_handler(fn["handler"])
        except HandlerError as exc:
            raise doc.error(("functions", index, "handler"), exc.detail) from None
        if fn["name"] in names:
            raise doc.error(("functions", index, "name"), f"duplicate function name {fn['name']!r}")
        names.add(fn["name"])
        functions.append(model.Function(
            name=fn["name"], handler=fn["handler"], function_name=fn.get("function_name"),
            environment={k: str(v) for k, v in fn.get("environment", {}).items()},
            memory_mb=fn.get("memory_mb"), timeout_s=fn.get("timeout_s"),
            reserved_concurrency=fn.get("reserved_concurrency"), init_budget_ms=fn.get("init_budget_ms", 3000),
            bundle=_bundle(doc, base, fn["bundle"], ("functions", index, "bundle")) if "bundle" in fn else None,
            runtime=fn.get("runtime"), architecture=fn.get("architecture")))
    bundle = _default_bundle(doc, base, raw, functions)
    secrets = tuple(
        model.Secret(id=s["id"], name=s.get("name", s["id"]), env=s.get("env"), required=tuple(s.get("required", ())),
                     aliases={k: tuple(v) for k, v in s.get("aliases", {}).items()}, types=dict(s.get("types", {})))
        for s in raw.get("secrets", ()))
    database = None
    if "database" in raw:
        db = raw["database"]
        if not any(db["secret"] in (s.name, s.id) for s in secrets):
            known = ", ".join(repr(s.name) for s in secrets) or "none are declared"
            raise doc.error(("database", "secret"), f"{db['secret']!r} is not a declared secret ({known})")
        database = model.Database(secret=db["secret"], connect_timeout_s=db.get("connect_timeout_s", 5))
    seed = None
    if "seed" in raw:
        s = raw["seed"]
        seed = model.Seed(email=s["email"],
                          sql=_uploadable(doc, base, s["sql"], ("seed", "sql")) if "sql" in s else None,
                          schema=_uploadable(doc, base, s["schema"], ("seed", "schema")) if "schema" in s else None)
    scan = raw.get("scan", {})
    logs = raw.get("logs", {})
    canary = raw.get("canary", {})
    local = raw.get("local", {})
    return model.Target(
        name=raw["name"], runtime=raw["runtime"], architecture=raw.get("architecture", "x86_64"),
        functions=tuple(functions), bundle=bundle, source_path=source, image=raw.get("image"),
        region=raw.get("region"),
        scan=model.Scan(
            paths=tuple(base / p for p in scan.get("paths", ())), exclude=tuple(scan.get("exclude", ())),
            must_reach={k: tuple(v) for k, v in scan.get("must_reach", {}).items()},
            allow=tuple(model.Allow(rule=a["rule"], reason=a["reason"], path=a.get("path"), name=a.get("name"))
                        for a in scan.get("allow", ())),
            orphan_min_lines=scan.get("orphan_min_lines", 60), baseline=_path(doc, base, scan.get("baseline")),
            fail_on_todo=bool(scan.get("fail_on_todo", False))),
        secrets=secrets, database=database, seed=seed,
        pipeline=_pipeline(doc, base, raw["pipeline"]) if "pipeline" in raw else None,
        logs=model.Logs(group=logs.get("group"), markers=tuple(logs.get("markers", ())),
                        max_duration_ms=logs.get("max_duration_ms")),
        dlq=raw["dlq"]["queue"] if "dlq" in raw else None,
        history=_history(base, raw.get("history")),
        canary=build_canary(doc, base, canary, {f.name for f in functions} | {
            f.function_name for f in functions if f.function_name}),
        local=model.Local(template=_existing(doc, base, local.get("template"), ("local", "template")),
                          schema_sql=_existing(doc, base, local.get("schema_sql"), ("local", "schema_sql")),
                          database_url=local.get("database_url"), secret_values=dict(local.get("secret_values", {})),
                          moto_port=local.get("moto_port", 5055)),
    )


def _history(base: Path, value: str | None) -> str | None:
    """An S3 prefix as written; a file path resolved against the target file's folder."""
    if value is None or value.startswith("s3://"):
        return value
    return str(base / value)


def _existing(doc: LocatedDocument, base: Path, value: str | None, path: Path_) -> Path | None:
    try:
        resolved = _path(doc, base, value)
        exists = resolved is not None and resolved.exists()
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long for the filesystem
        raise doc.error(path, f"file {value!r} cannot be used: {type(exc).__name__}") from None
    if resolved is not None and not exists:
        raise doc.error(path, f"file {value!r} does not exist (looked in {base})")
    return resolved


def repository_root(folder: Path) -> Path | None:
    """The git work tree holding `folder` (a `.git` folder, or the `.git` file of a worktree), if any."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _uploadable(doc: LocatedDocument, base: Path, value: str, path: Path_) -> Path:
    """A file the smoke run uploads or executes against the deployment: it must stay inside the target's repository.

    `../../etc/passwd` or `/home/me/.aws/credentials` in a target file would otherwise be sent to the bucket. Outside
    any repository (a generated target in a temporary folder) there is no boundary to hold it to.
    """
    resolved = _existing(doc, base, value, path)
    assert resolved is not None
    root = repository_root(base)
    if root is not None and not resolved.is_relative_to(root.resolve()):
        raise doc.error(path, f"file {value!r} resolves to {resolved}, outside the repository {root}; keep fixtures "
                              "in the repository")
    return resolved


def _key_prefix(doc: LocatedDocument, value: str) -> str:
    """pipeline.key_prefix: a relative S3 key prefix, no `..` segments, nothing a shell or a log would mangle."""
    segments = value.replace("\\", "/").split("/")
    if value.startswith("/") or ".." in segments or "\\" in value or any(not c.isprintable() for c in value):
        raise doc.error(("pipeline", "key_prefix"), f"{value!r} is not a safe S3 key prefix: write a relative "
                                                    "prefix without `..`, backslashes or control characters, "
                                                    "e.g. deployverify")
    return value


def _default_bundle(doc: LocatedDocument, base: Path, raw: dict[str, Any],
                    functions: list[model.Function]) -> model.Bundle:
    """The top-level bundle: the code of functions without their own. When every function has its own, the first
    one's stands in (it is never used to check another function)."""
    if "bundle" in raw:
        return _bundle(doc, base, raw["bundle"], ("bundle",))
    without = [index for index, fn in enumerate(functions) if fn.bundle is None]
    if without:
        raise doc.error(("functions", without[0], "bundle"),
                        f"required: function {functions[without[0]].name!r} has no bundle and there is no top-level "
                        "bundle to default to")
    first = functions[0].bundle
    assert first is not None
    return first


def _bundle(doc: LocatedDocument, base: Path, raw: dict[str, Any], at: Path_) -> model.Bundle:
    ways = [k for k in ("command", "sam", "source") if k in raw]
    if len(ways) > 1:
        raise doc.error((*at, ways[1]), f"choose one way to build: {' or '.join(ways)}, not both")
    sam = None
    if "sam" in raw:
        template = _existing(doc, base, raw["sam"]["template"], (*at, "sam", "template"))
        assert template is not None
        sam = model.SamBuild(template=template, function=raw["sam"]["function"])
    if "output" not in raw:
        if sam is not None:
            output = template.parent / ".aws-sam" / "build" / sam.function if template else base
        elif ways:
            raise doc.error((*at, "output"), "required: where the built bundle lands")
        else:
            raise doc.error(at, "required: a build (command, sam or source) or a prebuilt output folder")
    else:
        output = base / raw["output"]
    declared = list(raw.get("layers", ()))
    remote = tuple((index, layer) for index, layer in enumerate(declared) if layer.startswith("arn:"))
    for index, layer in remote:
        if not layer.startswith("arn:aws") or layer.count(":") < 7 or ":layer:" not in layer:
            raise doc.error((*at, "layers", index), f"{layer!r} is not a layer version ARN: write "
                            "arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION, or a folder")
    return model.Bundle(
        output=output.resolve(), command=raw.get("command"),
        cwd=_path(doc, base, raw.get("cwd")) or base, sam=sam,
        source=_existing(doc, base, raw.get("source"), (*at, "source")),
        requirements=_existing(doc, base, raw.get("requirements"), (*at, "requirements")),
        inputs=tuple(base / p for p in raw.get("inputs", ())),
        layers=tuple(base / p for p in declared if not p.startswith("arn:")),
        remote_layers=remote,
        source_roots=tuple((base / p).resolve() for p in raw.get("source_roots", ())),
        static_only=tuple(raw.get("static_only", ())))


def _pipeline(doc: LocatedDocument, base: Path, raw: dict[str, Any]) -> model.Pipeline:
    documents = []
    for index, d in enumerate(raw["documents"]):
        file = _uploadable(doc, base, d["file"], ("pipeline", "documents", index, "file"))
        expect = d.get("expect", {})
        documents.append(model.Document(file=file, expect=model.Expectation(
            type=expect.get("type"), min_confidence=expect.get("min_confidence"),
            fields=dict(expect.get("fields", {})))))
    trigger = raw.get("trigger", {})
    trigger_type = trigger.get("type", "sqs")
    if trigger_type == "sqs" and not trigger.get("queue"):
        raise doc.error(("pipeline", "trigger", "queue"), "required when the trigger type is sqs")
    columns = raw.get("result_columns", {})
    defaults = model.Pipeline(bucket="", documents=())
    return model.Pipeline(
        bucket=raw["bucket"], documents=tuple(documents),
        key_prefix=_key_prefix(doc, raw.get("key_prefix", defaults.key_prefix)),
        trigger=model.Trigger(type=trigger_type, queue=trigger.get("queue"), function=trigger.get("function"),
                              message=trigger.get("message", defaults.trigger.message)),
        status_table=raw.get("status_table", defaults.status_table),
        id_column=raw.get("id_column", defaults.id_column),
        status_column=raw.get("status_column", defaults.status_column),
        type_column=columns.get("type", defaults.type_column),
        confidence_column=columns.get("confidence", defaults.confidence_column),
        fields_column=columns.get("fields", defaults.fields_column),
        error_column=columns.get("error", defaults.error_column),
        final_status=raw.get("final_status", defaults.final_status),
        failed_status=raw.get("failed_status", defaults.failed_status),
        timeout_s=float(raw.get("timeout_s", defaults.timeout_s)))


def target_from_bundle(bundle: str | Path, handler: str, runtime: str = "python3.12",
                       image: str | None = None, architecture: str = "x86_64") -> model.Target:
    """The target behind `deployverify gate --bundle DIR --handler M.F`: a prebuilt bundle, no target file."""
    folder = Path(bundle)
    if not folder.is_dir():
        raise TargetError("is not a folder", where=f"--bundle {folder}")
    try:
        parse_handler(handler)
    except HandlerError as exc:
        raise TargetError(exc.detail, where=f"--handler {handler}") from None
    if re.fullmatch(target_schema()["properties"]["runtime"]["pattern"], runtime) is None:
        raise TargetError(f"{runtime!r} is not a Lambda Python runtime (python3.8 ... python3.14)", where="--runtime")
    return model.Target(name=folder.resolve().name, runtime=runtime, architecture=architecture,
                        functions=(model.Function(name="function", handler=handler),),
                        bundle=model.Bundle(output=folder.resolve()), image=image)

