"""A SAM template read as an application: every zip function with Globals.Function merged in as SAM merges it,
its layers, its SQS trigger and where failed messages go, and the functions deployverify does not check with why.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deployverify.sam.intrinsics import (
    NO_VALUE,
    Intrinsics,
    Unresolved,
    check_functions,
    intrinsic_of,
    referenced_resource,
)
from deployverify.sam.model import (
    DEFAULT_MEMORY_MB,
    DEFAULT_SQS_BATCH_SIZE,
    DEFAULT_TIMEOUT_S,
    LayerRef,
    NotApplicable,
    QueueRef,
    SamApplication,
    SamFunction,
    SamLayer,
    SqsTrigger,
)
from deployverify.sam.reader import SamDocument, load_document
from deployverify.target.yamlnodes import Path_

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
LAYER_TYPES = frozenset({"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"})
# SAM replaces primitives, merges maps key by key and prepends global list items. Architectures is the exception
# in practice: a global [arm64] plus a function's [x86_64] would be two architectures, which Lambda rejects.
_FUNCTION_WINS = frozenset({"Architectures"})
INLINE_REASON = ("InlineCode: the code is written in the template, and `sam build` builds only code in a folder; "
                 "deployverify checks a function's code folder: move the code to a file and set CodeUri to its folder")
# Code already uploaded (CodeUri s3://... or {Bucket, Key}): only the deployed function has it.
REMOTE_CODE_REASON = ("CodeUri is in S3, not on this machine: deployverify checks code it can build; check the "
                      "deployed function with `deployverify scan --deployed`")
IMAGE_REASON = ("PackageType Image: the code is a container image built from a Dockerfile, not a zip bundle; "
                "deployverify checks zip functions, test the image with your container tests")


def merge_globals(global_value: Any, own: Any, key: str = "") -> Any:
    """Globals.Function merged into one function's Properties, as SAM does."""
    if intrinsic_of(global_value) is not None or intrinsic_of(own) is not None or key in _FUNCTION_WINS:
        return own
    if isinstance(global_value, dict) and isinstance(own, dict):
        merged = dict(global_value)
        for name, value in own.items():
            merged[name] = merge_globals(global_value[name], value, name) if name in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(own, list):
        return [*global_value, *own]
    return own


def parameter_values(document: SamDocument, overrides: Mapping[str, str]) -> dict[str, Any]:
    """Each parameter's override, else its Default (a list for List<> types); Unresolved when it has neither.

    An `AWS::SSM::Parameter::Value<...>` parameter's Default is the name of an SSM parameter whose value the deploy
    reads, so without an override (taken here as the value itself) it is Unresolved, never the SSM name."""
    values: dict[str, Any] = {}
    for name, declared in (document.value.get("Parameters") or {}).items():
        if not isinstance(declared, dict):
            raise document.error(("Parameters", name), "a parameter must be a mapping with Type (and Default)")
        kind = str(declared.get("Type", "String"))
        if kind.startswith("AWS::SSM::Parameter::Value") and name not in overrides:
            values[name] = Unresolved(f"!Ref {name}, the value of SSM parameter {declared.get('Default')!r}")
            continue
        raw = overrides.get(name, declared.get("Default"))
        if raw is None:
            values[name] = Unresolved(f"!Ref {name}, a parameter without Default")
            continue
        text = ",".join(map(str, raw)) if isinstance(raw, list) else str(raw)
        values[name] = [v.strip() for v in text.split(",")] if kind.startswith(("List<", "CommaDelimited")) else text
    return values


class _Reader:
    def __init__(self, document: SamDocument, intrinsics: Intrinsics) -> None:
        self.document = document
        self.intrinsics = intrinsics
        self.resources = document.resources
        self.base = document.path.parent.resolve()

    def kind(self, logical: str) -> str | None:
        resource = self.resources.get(logical)
        return str(resource.get("Type")) if isinstance(resource, dict) else None

    def properties(self, logical: str) -> dict[str, Any]:
        properties = self.resources[logical].get("Properties") or {}
        if not isinstance(properties, dict):
            raise self.document.error(("Resources", logical, "Properties"), "Properties must be a mapping")
        return properties

    def integer(self, value: Any, at: Path_, default: int | None) -> Any:
        if value is None:
            return default
        resolved = self.intrinsics.text(value, at)
        if isinstance(resolved, Unresolved):
            return resolved
        try:
            return int(resolved)
        except ValueError:
            raise self.document.error(at, f"expected a whole number, found {resolved!r}") from None

    def required_text(self, value: Any, at: Path_, what: str) -> str:
        if value is None:
            raise self.document.error(at[:-1], f"a zip function needs {what} (here or in Globals.Function)")
        resolved = self.intrinsics.text(value, at)
        if isinstance(resolved, Unresolved):
            raise self.document.error(at, f"{what} must be known before deploy, found {resolved.expression}")
        return resolved

    def folder(self, value: Any, at: Path_) -> Path | None:
        """A local code folder (CodeUri/ContentUri/Code as a path); None for S3 locations and inline code."""
        resolved = self.intrinsics.resolve(value, at)
        if not isinstance(resolved, str) or resolved.startswith("s3://"):
            return None
        return (self.base / resolved).resolve()

    def queue(self, value: Any, at: Path_) -> QueueRef:
        logical = referenced_resource(value)
        if logical is not None and self.kind(logical) == "AWS::SQS::Queue":
            return QueueRef(logical_id=logical)
        return QueueRef(arn=self.intrinsics.text(value, at))

    def dead_letter_of(self, queue: QueueRef) -> QueueRef | None:
        if queue.logical_id is None:
            return None
        redrive = self.properties(queue.logical_id).get("RedrivePolicy")
        if not isinstance(redrive, dict) or "deadLetterTargetArn" not in redrive:
            return None
        at: Path_ = ("Resources", queue.logical_id, "Properties", "RedrivePolicy", "deadLetterTargetArn")
        return self.queue(redrive["deadLetterTargetArn"], at)

    def layers(self, value: Any, at: Path_) -> tuple[LayerRef, ...]:
        if value is None:
            return ()
        items = value if isinstance(value, list) else self.intrinsics.resolve(value, at)
        if not isinstance(items, list):
            raise self.document.error(at, "Layers must be a list of layer ARNs or !Ref <LayerVersion>")
        found = []
        for index, item in enumerate(items):
            call = intrinsic_of(item)
            if call is not None and call[0] == "Ref" and self.kind(str(call[1])) in LAYER_TYPES:
                found.append(LayerRef(logical_id=str(call[1])))
                continue
            resolved = self.intrinsics.resolve(item, (*at, index))
            if resolved is not NO_VALUE:
                found.append(LayerRef(arn=resolved if isinstance(resolved, Unresolved) else str(resolved)))
        return tuple(found)

    def environment(self, value: Any, at: Path_) -> dict[str, str | Unresolved]:
        variables = (value or {}).get("Variables") if isinstance(value, dict) else None
        if not variables:
            return {}
        if not isinstance(variables, dict):
            raise self.document.error((*at, "Variables"), "Environment.Variables must be a mapping")
        return self.intrinsics.texts(variables, (*at, "Variables"))

    def sqs_events(self, logical: str, events: Any, at: Path_) -> SqsTrigger | None:
        for name, event in (events or {}).items():
            if not isinstance(event, dict) or event.get("Type") != "SQS":
                continue
            properties = event.get("Properties") or {}
            here: Path_ = (*at, name, "Properties")
            if "Queue" not in properties:
                raise self.document.error(here, f"the SQS event {name} of {logical} has no Queue")
            return SqsTrigger(event=name, queue=self.queue(properties["Queue"], (*here, "Queue")),
                              batch_size=self.integer(properties.get("BatchSize"), (*here, "BatchSize"),
                                                      DEFAULT_SQS_BATCH_SIZE),
                              enabled=properties.get("Enabled", True) is not False)
        return None

    def event_source_mapping(self, logical: str) -> SqsTrigger | None:
        """For AWS::Lambda::Function: an AWS::Lambda::EventSourceMapping on an SQS queue naming this function."""
        for mapping_id, resource in self.resources.items():
            if not isinstance(resource, dict) or resource.get("Type") != "AWS::Lambda::EventSourceMapping":
                continue
            properties = self.properties(mapping_id)
            if referenced_resource(properties.get("FunctionName")) != logical:
                continue
            at: Path_ = ("Resources", mapping_id, "Properties")
            return SqsTrigger(event=mapping_id, queue=self.queue(properties.get("EventSourceArn"),
                                                                 (*at, "EventSourceArn")),
                              batch_size=self.integer(properties.get("BatchSize"), (*at, "BatchSize"),
                                                      DEFAULT_SQS_BATCH_SIZE),
                              enabled=properties.get("Enabled", True) is not False)
        return None

    def function(self, logical: str, globals_: dict[str, Any]) -> SamFunction | NotApplicable:
        resource = self.resources[logical]
        line = self.document.line(("Resources", logical))
        serverless = resource.get("Type") == SERVERLESS_FUNCTION
        own = self.properties(logical)
        props = merge_globals(globals_, own) if serverless else own
        at: Path_ = ("Resources", logical, "Properties")
        package_type = self.intrinsics.text(props.get("PackageType", "Zip"), (*at, "PackageType"))
        code = props.get("Code") if not serverless else None
        if package_type == "Image" or "ImageUri" in props or (isinstance(code, dict) and "ImageUri" in code):
            return NotApplicable(logical, line, IMAGE_REASON)
        runtime = self.required_text(props.get("Runtime"), (*at, "Runtime"), "Runtime")
        if not runtime.startswith("python"):
            return NotApplicable(logical, line, f"runtime {runtime}: deployverify checks Python functions")
        handler = self.required_text(props.get("Handler"), (*at, "Handler"), "Handler")
        if serverless:
            code_uri = None if "InlineCode" in props else self.folder(props.get("CodeUri", "."), (*at, "CodeUri"))
        else:
            code_uri = self.folder(code, (*at, "Code")) if isinstance(code, str) else None
        if code_uri is None:
            # Nothing here to build: without this, such functions would all share one bundle that never builds.
            inline = "InlineCode" in props or (isinstance(code, dict) and "ZipFile" in code)
            return NotApplicable(logical, line, INLINE_REASON if inline else REMOTE_CODE_REASON)
        name = props.get("FunctionName")
        metadata = resource.get("Metadata") or {}
        sqs = (self.sqs_events(logical, props.get("Events"), (*at, "Events")) if serverless
               else self.event_source_mapping(logical))
        dlq = self.dead_letter_of(sqs.queue) if sqs else None
        # Without an SQS redrive, the function's own dead-letter target (asynchronous invocations) is the DLQ.
        dead_letter_key = "DeadLetterQueue" if serverless else "DeadLetterConfig"
        dead_letter = props.get(dead_letter_key)
        if dlq is None and isinstance(dead_letter, dict) and dead_letter.get("Type", "SQS") == "SQS" \
                and "TargetArn" in dead_letter:
            dlq = self.queue(dead_letter["TargetArn"], (*at, dead_letter_key, "TargetArn"))
        architectures = self.intrinsics.resolve(props.get("Architectures") or ["x86_64"], (*at, "Architectures"))
        return SamFunction(
            logical_id=logical, line=line, runtime=runtime, handler=handler, code_uri=code_uri,
            function_name=None if name is None else self.intrinsics.text(name, (*at, "FunctionName")),
            build_method=metadata.get("BuildMethod") if isinstance(metadata, dict) else None,
            timeout_s=self.integer(props.get("Timeout"), (*at, "Timeout"), DEFAULT_TIMEOUT_S),
            memory_mb=self.integer(props.get("MemorySize"), (*at, "MemorySize"), DEFAULT_MEMORY_MB),
            architectures=tuple(str(a) for a in architectures) if isinstance(architectures, list) else ("x86_64",),
            layers=self.layers(props.get("Layers"), (*at, "Layers")),
            environment=self.environment(props.get("Environment"), (*at, "Environment")),
            reserved_concurrency=self.integer(props.get("ReservedConcurrentExecutions"),
                                              (*at, "ReservedConcurrentExecutions"), None),
            sqs=sqs, dlq=dlq)

    def layer(self, logical: str) -> SamLayer:
        resource = self.resources[logical]
        props = self.properties(logical)
        at: Path_ = ("Resources", logical, "Properties")
        key = "ContentUri" if resource.get("Type") == "AWS::Serverless::LayerVersion" else "Content"
        if key not in props:
            raise self.document.error(at, f"a layer needs {key}")
        metadata = resource.get("Metadata") or {}
        runtimes = self.intrinsics.resolve(props.get("CompatibleRuntimes") or [], (*at, "CompatibleRuntimes"))
        return SamLayer(logical_id=logical, line=self.document.line(("Resources", logical)),
                        content_uri=self.folder(props[key], (*at, key)),
                        build_method=metadata.get("BuildMethod") if isinstance(metadata, dict) else None,
                        compatible_runtimes=tuple(str(r) for r in runtimes) if isinstance(runtimes, list) else ())


def load_application(template: Path, *, parameter_overrides: Mapping[str, str] | None = None,
                     pseudo: Mapping[str, str] | None = None) -> SamApplication:
    """Every function and layer of the template; DeployVerifyError (file:line resource) when it cannot be read."""
    document = load_document(template)
    check_functions(document)
    parameters = parameter_values(document, parameter_overrides or {})
    intrinsics = Intrinsics(document, parameters, pseudo)
    reader = _Reader(document, intrinsics)
    globals_ = (document.value.get("Globals") or {}).get("Function") or {}
    if not isinstance(globals_, dict):
        raise document.error(("Globals", "Function"), "Globals.Function must be a mapping")
    functions: list[SamFunction] = []
    layers: list[SamLayer] = []
    not_applicable: list[NotApplicable] = []
    for logical, resource in document.resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise document.error(("Resources", logical), f"resource {logical} has no Type")
        if resource["Type"] in (SERVERLESS_FUNCTION, LAMBDA_FUNCTION) and intrinsics.resource_created(logical) is False:
            # Not deployed with these parameters; a condition only the deploy can decide keeps the function checked.
            not_applicable.append(NotApplicable(logical, document.line(("Resources", logical)),
                                                f"its Condition `{resource['Condition']}` is false with these "
                                                "parameters, so the stack does not create it"))
        elif resource["Type"] in (SERVERLESS_FUNCTION, LAMBDA_FUNCTION):
            read = reader.function(logical, globals_)
            if isinstance(read, SamFunction):
                functions.append(read)
            else:
                not_applicable.append(read)
        elif resource["Type"] in LAYER_TYPES:
            layers.append(reader.layer(logical))
    return SamApplication(template=template, parameters={k: v for k, v in parameters.items() if isinstance(v, str)},
                          functions=tuple(functions), layers=tuple(layers), not_applicable=tuple(not_applicable))
