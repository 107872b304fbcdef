"""`deployverify init`: read the SAM template.yaml here and write a commented deployverify.yaml for its application.

Every zip Python function is written with its own code: `bundle.sam` names the function whose `sam build` output
(.aws-sam/build/<LogicalId>) is its bundle, and its layers follow in the order Lambda extracts them to /opt. Functions
built from the same code (same CodeUri, runtime, architecture, build method and layers) share the first one's
bundle, so the gate probes that code once. The target's runtime and architecture are the first function's; a
function on another writes its own (`functions[].runtime`, `functions[].architecture`) and is judged on it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from deployverify.core.errors import DeployVerifyError
from deployverify.sam.application import load_application
from deployverify.sam.intrinsics import Unresolved
from deployverify.sam.model import QueueRef, SamApplication, SamFunction
from deployverify.sam.reader import default_template


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--template", help="SAM template (default: ./template.yaml, .yml or .json, as sam build)")
    parser.add_argument("-o", "--output", default="deployverify.yaml", help="file to write")
    parser.add_argument("--function", help="write only this function (default: every zip Python function; the first "
                                           "one's runtime and architecture are the target's)")
    parser.add_argument("--parameter-overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="template parameters, as for `sam deploy` (default: each parameter's Default)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def _scalar(text: str) -> str:
    """A double-quoted YAML string whose `$` stays literal through the target loader's ${VAR} expansion."""
    return json.dumps(text.replace("$", "$$"))


def _from_environment(variable: str, value: str | Unresolved) -> tuple[str, str]:
    """(YAML value, comment): a deploy-time value becomes ${VARIABLE:-placeholder} so the real one can be passed in."""
    if isinstance(value, Unresolved):
        return (json.dumps(f"${{{variable}:-{value.placeholder}}}"),
                f"  # {value.expression}: known only at deploy; set {variable} to the deployed value")
    return _scalar(value), ""


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix() + "/"


def _code_key(fn: SamFunction) -> tuple[object, ...]:
    """Functions with equal keys run the same bundle with the same /opt: one target file checks them all."""
    return (fn.code_uri, fn.runtime, fn.architecture, fn.build_method, fn.layers)


def _function_lines(fn: SamFunction, base: Path, bundle: list[str],
                    platform: tuple[str, str] | None = None) -> list[str]:
    variable = f"{fn.logical_id.upper()}_NAME"
    if fn.function_name is None:
        name_value, name_note = (json.dumps(f"${{{variable}:-{fn.logical_id}}}"),
                                 f"  # CloudFormation generates the name; set {variable} to the deployed one")
    else:
        name_value, name_note = _from_environment(variable, fn.function_name)
        if not isinstance(fn.function_name, Unresolved):
            name_value = json.dumps(f"${{{variable}:-{fn.function_name.replace('$', '$$')}}}")
    code = _relative(fn.code_uri, base) if fn.code_uri else "inline or S3 code (not on this machine)"
    lines = [f"  # {fn.logical_id}: {fn.runtime}, {fn.architecture}, code {code}"
             + (f", BuildMethod {fn.build_method}" if fn.build_method else "")
             + (f", layers {', '.join(layer.describe() for layer in fn.layers)}" if fn.layers else ""),
             f"  - name: {fn.logical_id}", f"    handler: {_scalar(fn.handler)}",
             f"    function_name: {name_value}{name_note}"]
    if platform is not None and (fn.runtime, fn.architecture) != platform:  # the target's are the first function's
        lines += [f"    runtime: {fn.runtime}", f"    architecture: {fn.architecture}"]
    for key, value in (("timeout_s", fn.timeout_s), ("memory_mb", fn.memory_mb),
                       ("reserved_concurrency", fn.reserved_concurrency)):
        if isinstance(value, int):
            lines.append(f"    {key}: {value}")
        elif isinstance(value, Unresolved):
            lines.append(f"    # {key}: {value.expression} is known after deploy; write the value here")
    if fn.environment:
        lines.append("    environment:")
        for key, env_value in fn.environment.items():
            value_text, note = _from_environment(key, env_value)
            lines.append(f"      {key}: {value_text}{note}")
    return lines + bundle


def _queue_url(queue: QueueRef, variable: str) -> tuple[str, str]:
    """The queue's URL as the smoke run needs it: from its ARN when the template has one, else from the deploy."""
    if queue.logical_id is not None:
        return _from_environment(variable, Unresolved(f"!Ref {queue.logical_id}"))
    if isinstance(queue.arn, str) and queue.arn.startswith("arn:aws:sqs:") and queue.arn.count(":") == 5:
        _, _, _, region, account, name = queue.arn.split(":")
        return _scalar(f"https://sqs.{region}.amazonaws.com/{account}/{name}"), ""
    return _from_environment(variable, queue.arn or Unresolved("the queue"))


def _bundle_lines(app: SamApplication, built_from: SamFunction, fn: SamFunction, base: Path) -> list[str]:
    """`fn`'s bundle: the `sam build` output of `built_from` (itself, or the first function with the same code) and
    its layers."""
    own_environment = fn.environment != built_from.environment
    probed = "probed with this function's own environment" if own_environment else "probed once"
    shared = f"  # the same code as {built_from.logical_id}: one bundle, {probed}" if built_from is not fn else ""
    lines = ["    bundle:",
             f"      sam: {{template: {_scalar(_relative(app.template.resolve(), base).rstrip('/'))}, "
             f"function: {built_from.logical_id}}}{shared}"]
    entries = []
    for layer_ref in fn.layers:
        layer = app.layer(layer_ref.logical_id) if layer_ref.logical_id else None
        folder = layer.built_folder(app.build_dir.resolve()) if layer else None
        if folder is not None and layer is not None:
            how = f"built by sam build (BuildMethod {layer.build_method})" if layer.build_method else "ContentUri"
            entries.append(f"      - {_scalar(_relative(folder, base).rstrip('/'))}  # {layer.logical_id}: {how}")
        elif layer is not None:
            where = f"{app.template.name}:{layer.line}"
            lines.append(f"      # Not checked: layer {layer.logical_id} ({where}) has its content in S3 or built at "
                         "deploy, not in a folder here; list a folder with its content under layers.")
        elif layer_ref.describe().startswith("arn:"):
            entries.append(f"      - {_scalar(layer_ref.describe())}  # by ARN: downloaded when AWS answers, else "
                           "rebuilt if it is a known public layer (Powertools)")
        else:
            lines.append(f"      # Not checked: layer {layer_ref.describe()} is neither in this template nor an ARN "
                         "known before deploy; list its content's folder under layers.")
    if entries:
        lines += ["      # Layers, extracted to /opt in this order (a later layer wins, as in Lambda).",
                  "      layers:", *entries]
    return lines


def _smoke_lines(chosen: SamFunction) -> list[str]:
    lines = ["", "# Fill in for the smoke run (see README: 'Point it at your own SAM worker')."]
    if chosen.sqs is not None:
        queue, note = _queue_url(chosen.sqs.queue, f"{(chosen.sqs.queue.logical_id or 'TRIGGER_QUEUE').upper()}_URL")
        lines += [f"# {chosen.logical_id} is triggered by SQS (event {chosen.sqs.event}, queue "
                  f"{chosen.sqs.queue.describe()}, batch size {chosen.sqs.batch_size}; the target file has no field "
                  "for the batch size).",
                  "# pipeline:", "#   bucket: ${BUCKET}", f"#   trigger: {{type: sqs, queue: {queue}}}{note}",
                  "#   documents:", "#     - file: fixtures/sample.pdf",
                  "#       expect: {type: cme_certificate, min_confidence: 0.8}"]
    else:
        lines += ["# pipeline:", "#   bucket: ${BUCKET}", "#   trigger: {type: sqs, queue: ${QUEUE_URL}}",
                  "#   documents: [{file: fixtures/sample.pdf}]"]
    if chosen.dlq is not None:
        variable = f"{(chosen.dlq.logical_id or 'DLQ').upper()}_URL"
        queue, note = _queue_url(chosen.dlq, variable)
        lines += [f"# Messages that keep failing go to {chosen.dlq.describe()}.", f"dlq: {{queue: {queue}}}{note}"]
    else:
        lines.append("# dlq: {queue: ${DLQ_URL}}")
    lines += ["# secrets:", "#   - id: ${DB_SECRET_ID:-my/db/secret}", "#     name: database",
              "#     required: [host, port, username, password, database]", "# database: {secret: database}",
              "# seed: {email: real1@test.com, sql: seed/test_user.sql}",
              "# logs: {group: /aws/lambda/${FUNCTION_NAME}}"]
    return lines


def _chosen(app: SamApplication, function: str | None) -> SamFunction:
    if not app.functions:
        # Functions skipped for the same reason are named together, so the reason is read once.
        by_reason: dict[str, list[str]] = {}
        for skipped in app.not_applicable:
            by_reason.setdefault(skipped.reason, []).append(skipped.logical_id)
        reasons = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())
        raise DeployVerifyError("the template has no zip Python function to check"
                                + (f" ({reasons})" if reasons else ""), where=str(app.template))
    if function is None:
        return app.functions[0]
    try:
        return app.function(function)
    except KeyError:
        names = ", ".join(f.logical_id for f in app.functions)
        raise DeployVerifyError(f"no zip Python function {function!r} in the template (it has {names})",
                                where=str(app.template)) from None


def _application_name(app: SamApplication, chosen: SamFunction, function: str | None) -> str:
    """The application's folder names a whole-application target; a one-function target is named after it."""
    return chosen.logical_id if function else (app.template.resolve().parent.name or chosen.logical_id)


def starter(app: SamApplication, base: Path, function: str | None = None) -> str:
    """The target file's text for `app`: every function in its own code, or only `function` when given."""
    chosen = _chosen(app, function)
    wanted = [chosen] if function else list(app.functions)
    checked = wanted  # a function on another runtime or architecture says so itself (functions[].runtime)
    platform = (chosen.runtime, chosen.architecture)
    names = ", ".join(f.logical_id for f in app.functions)
    lines = ["# deployverify target: what to build, where it runs, and how to prove it does real work.",
             f"# Generated by `deployverify init` from {app.template.name} ({len(app.functions)} zip Python "
             f"function(s): {names}); edit freely.",
             "# ${VAR} and ${VAR:-default} are expanded from the environment, so one file serves dev and prod.",
             "# Each function is checked in its own code: SAM builds it into .aws-sam/build/<LogicalId>.",
             f"name: {_scalar(_application_name(app, chosen, function))}", f"runtime: {chosen.runtime}",
             f"architecture: {chosen.architecture}", "",
             "functions:"]
    built_from: dict[tuple[object, ...], SamFunction] = {}
    for fn in checked:
        origin = built_from.setdefault(_code_key(fn), fn)
        lines += _function_lines(fn, base, _bundle_lines(app, origin, fn, base), platform)
    for skipped in app.not_applicable:
        lines.append(f"# Not applicable: {skipped.logical_id} ({app.template.name}:{skipped.line}): {skipped.reason}")
    triggered = next((f for f in checked if f.sqs is not None), chosen)
    lines += _smoke_lines(triggered)
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    template_path = Path(args.template) if args.template else default_template(Path("."))
    output = Path(args.output)
    if output.exists() and not args.force:
        raise DeployVerifyError("already exists; pass --force to overwrite", where=str(output))
    overrides = {}
    for pair in args.parameter_overrides:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise DeployVerifyError(f"expected KEY=VALUE, found {pair!r}", where="--parameter-overrides")
        overrides[key] = value
    app = load_application(template_path, parameter_overrides=overrides)
    output.write_text(starter(app, output.resolve().parent, args.function), encoding="utf-8")
    print(f"wrote {output}; next: deployverify gate -c {output}")
    return 0
