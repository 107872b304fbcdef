"""The one table of checks: stable id, title, the message template each check fills in, and (for the stub scan's
rules, which SARIF describes to code scanning) the full help text.

Ids are stable forever (outside tooling keys on them); retire an id rather than reuse it. The band says what a check
looks at: DV0xx harness, DV1xx build/bundle, DV2xx native/handler/imports, DV3xx stub scan, DV4xx secrets/DB/seed,
DV5xx pipeline/logs/DLQ, DV6xx operations/canary. Templates quote the offending value and say what to do.
docs/checks.md is generated from this table (`python -m deployverify.commands.docs`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

BANDS = {
    "0": "harness",
    "1": "build and bundle",
    "2": "native extensions, handler and imports",
    "3": "stub scan",
    "4": "secrets, database and seed",
    "5": "pipeline, logs and DLQ",
    "6": "operations and canary",
}
ID_PATTERN = re.compile(r"^DV[0-6]\d\d$")


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    template: str
    help: str = ""  # what the check looks for and what it leaves out, in full (SARIF rule help for the stub scan)

    @property
    def band(self) -> str:
        return BANDS[self.id[2]]

    def message(self, **values: Any) -> str:
        return self.template.format(**values)


_TABLE: tuple[CheckSpec, ...] = (
    # DV0xx: the harness itself
    CheckSpec("DV001", "Everything the checks need is available",
              "{what} is not available: {reason}; {fix}"),
    CheckSpec("DV002", "AWS answers with the configured credentials",
              "AWS at {endpoint} ({region}) refused `{call}`: {error}; {fix}"),
    # DV1xx: build and bundle
    CheckSpec("DV101", "The bundle builds",
              "build failed: `{command}` exited {code}; fix the build, its stderr ends: {tail}"),
    CheckSpec("DV102", "The handler's file is in the bundle",
              "handler `{handler}` needs `{expected}` but the bundle has no such file{hint}; "
              "fix the build or the handler"),
    CheckSpec("DV103", "The bundle fits Lambda's size limits",
              "bundle{layers} is {size} unzipped (Lambda's limit is {limit}, layers included); biggest: {biggest}; "
              "drop what the code does not need or ship the function as a container image"),
    CheckSpec("DV104", "The deployed code is the code that was built",
              "deployed `{function}` has CodeSha256 `{deployed}` but the built bundle zips to `{built}`; redeploy"),
    # DV2xx: native extensions, handler, imports
    CheckSpec("DV201", "Native extensions match the target architecture",
              "`{file}` ({package}) is built for {found}; the function runs on {expected}: reinstall it with "
              "pip --platform manylinux2014_{cpu}"),
    CheckSpec("DV202", "Native extensions need no newer glibc than the runtime",
              "`{file}` ({package}) needs {found}; {runtime} has glibc {expected}: install a manylinux wheel "
              "for glibc <= {expected}"),
    CheckSpec("DV203", "Native extensions match the runtime's CPython",
              "`{file}` ({package}) is built for CPython {found}; the runtime is {runtime}, which loads only "
              "{accepts}: reinstall it with pip --python-version {expected}"),
    CheckSpec("DV204", "No foreign binaries are shipped as extensions",
              "`{file}` ({package}) is {found}, not a Linux ELF library: {why}; build the bundle with "
              "pip --platform manylinux2014_{arch}"),
    CheckSpec("DV205", "Bundled wheels are tagged for the runtime",
              "`{dist}` was installed from a wheel tagged `{found}`; the runtime needs {expected}: reinstall it "
              "with --platform/--python-version for the runtime"),
    CheckSpec("DV210", "The handler string is valid for Lambda",
              "handler `{handler}` gives {error_type}: {reason}; {fix}"),
    CheckSpec("DV211", "The handler imports and resolves in the Lambda image",
              "handler `{handler}` gives {error_type}: {reason}; {fix}"),
    CheckSpec("DV212", "Cold-start init fits Lambda's 10 s init limit and the target's budget",
              "importing `{handler}` took {init_ms} ms, over {over} (budget {budget_ms} ms, Lambda's init limit "
              "{limit_ms} ms, peak RSS {rss_mb} MB); move work out of import time"),
    CheckSpec("DV220", "Every first-party module imports in the Lambda image",
              "`{module}` fails to import: {error}; {fix}"),
    CheckSpec("DV221", "Third-party modules the code reaches import in the Lambda image",
              "`{module}` (reached from {via}) fails to import: {error}; {fix}"),
    CheckSpec("DV222", "Every import in the code resolves against the bundle and runtime",
              "`{module}` imported at {where} is not in the bundle, the standard library or the runtime; {fix}"),
    CheckSpec("DV230", "The probe ran in the Lambda image",
              "the probe ran in {isolation}, not the Lambda image `{image}`: {reason}; {fix}"),
    # DV3xx: stub scan
    CheckSpec("DV301", "No reachable mock-named code behaves like a test double",
              "handler reaches `{name}` ({path}:{line}) via {call_path}: named `{word}` and {evidence}; "
              "connect the real implementation",
              help="A function or class named mock, stub, fake, dummy or placeholder is reachable from the handler "
                   "and behaves like a test double: it lives in a test module, subclasses or wraps a test double "
                   "(Mock, MagicMock, patch), returns a constant ignoring its inputs, or does no I/O. The message "
                   "quotes the evidence. The name alone is not a verdict: a `_stub()` that builds a gRPC client or a "
                   "`get_stub()` that returns a boto3 client does I/O and passes. Generated gRPC `*Stub` clients "
                   "(`*_pb2_grpc` modules) never match."),
    CheckSpec("DV302", "No reachable function returns success without doing work",
              "`{name}` ({path}:{line}) returns `{value}` without doing any work, reached via {call_path}; "
              "make it do the work or remove it",
              help="A reachable function returns a success-shaped constant ({\"status\": \"success\"}, True, \"ok\", "
                   "{\"statusCode\": 200}) and does nothing else but log: the caller believes work happened. Make it "
                   "do the work, or remove it."),
    CheckSpec("DV303", "No placeholders are reachable from the handler",
              "`{name}` ({path}:{line}) is a placeholder ({kind}), reached via {call_path}; implement it",
              help="A reachable function is a placeholder: it raises NotImplementedError or its body is only `pass` or "
                   "`...`. Abstract methods, Protocol members, overloads and methods every subclass overrides are "
                   "excluded."),
    CheckSpec("DV304", "No test doubles are shipped in the code",
              "`{module}` imported at {path}:{line} is a test library; production code must not use it",
              help="Code the handler loads imports a test library (unittest.mock, moto, pytest, responses, freezegun, "
                   "faker): test doubles run in production. Modules no handler imports (test files, local dev scripts) "
                   "are not counted."),
    CheckSpec("DV305", "No mock toggle defaults to the mock path",
              "`{flag}` defaults to `{default}`{source} at {path}:{line}, which sends the handler to `{name}`; "
              "default to the real path",
              help="An environment or config flag named like MOCK, USE_MOCK, STUB, FAKE or DRY_RUN selects a mock "
                   "path, and its default (or the target's environment) selects it: the deployed function takes the "
                   "mock path unless someone remembers to set the flag. Default to the real path."),
    CheckSpec("DV306", "TODO/FIXME markers in reachable code are reported (a warning unless scan.fail_on_todo)",
              "`{marker}` in `{name}` ({path}:{line}), reached via {call_path}: {text}",
              help="A TODO, FIXME, XXX or HACK comment inside a function the handler reaches: unfinished work on the "
                   "production path. A warning by default; with scan.fail_on_todo: true in the target it fails the "
                   "gate."),
    CheckSpec("DV307", "No real implementation is left unconnected",
              "handler reaches `{stub}`; `{orphan}` ({lines} lines, {path}) is never called: wire it in",
              help="A large first-party function or module (scan.orphan_min_lines, default 60) is never reached while "
                   "a stub is: the real implementation exists and nothing calls it. Wire it in."),
    CheckSpec("DV308", "Each handler reaches the functions it must",
              "handler `{handler}` never reaches `{required}`; nearest reachable: `{nearest}`",
              help="The target lists functions each handler must reach (scan.must_reach); one is never reached. The "
                   "message names the nearest function the handler does reach."),
    CheckSpec("DV309", "Every suppression gives a reason",
              "suppression of {rule} at {path}:{line} has no reason=\"...\"; say why it is safe",
              help="An inline `# deployverify: allow DV3nn` suppression gives no reason=\"...\": it suppresses nothing "
                   "until it says why the finding is safe."),
    # DV4xx: secrets, database, seed
    CheckSpec("DV401", "Every declared secret can be read",
              "secret `{secret}` cannot be read: {reason}; {fix}"),
    CheckSpec("DV402", "Every secret matches its declared schema",
              "secret `{secret}` {problem}; keys present: {present}; {fix}"),
    CheckSpec("DV403", "Every key the code reads exists in the secret",
              "code reads `{key}` at {where} but secret `{secret}` has {present}; read `{suggest}` or add the key"),
    CheckSpec("DV410", "The database accepts the worker's connection",
              "connecting as the worker does failed: {error}; {fix}"),
    CheckSpec("DV411", "The status table and columns exist",
              "table `{table}` lacks {missing}; apply the schema migrations"),
    CheckSpec("DV412", "The database has connection headroom",
              "{active} of max_connections {maximum} in use ({percent}%){detail}; raise the limit or add a proxy"),
    CheckSpec("DV420", "The test user is seeded",
              "seeding `{email}` failed: {error}; {fix}"),
    # DV5xx: pipeline, logs, DLQ
    CheckSpec("DV501", "Each fixture document reaches its final status",
              "`{document}` is `{status}` after {waited_s}s (expected `{expected}`); queue {queue_depth}, "
              "DLQ {dlq_depth}; {fix}"),
    CheckSpec("DV502", "Each processed document carries a real result",
              "`{document}` {problem}; a processed row without real output is the mock incident's signature"),
    CheckSpec("DV510", "The worker's logs show each document's invocation",
              "document {document_id}: {problem} in `{group}` during the run; {fix}"),
    CheckSpec("DV511", "The worker's logs show no runtime errors",
              "`{line}` in `{group}`; fix the error the worker logged"),
    CheckSpec("DV512", "Invocations finish within the duration limit",
              "invocation {request_id} took {duration_ms} ms (limit {limit_ms} ms)"),
    CheckSpec("DV520", "The DLQ is empty before the run",
              "DLQ `{queue}` holds {count} message(s) before the run; inspect and redrive them"),
    CheckSpec("DV521", "The DLQ is empty after the run",
              "DLQ `{queue}` holds {count} message(s) after the run{detail}; the worker failed them: read them, "
              "fix the cause, then redrive or delete them"),
    # DV6xx: operations and canary
    CheckSpec("DV601", "The deployed function exists",
              "function `{function}` is not deployed: {reason}; deploy it or fix functions[].function_name"),
    CheckSpec("DV602", "The deployed configuration matches the template",
              "function `{function}` has {field} `{found}`, the template says `{expected}`; redeploy"),
    CheckSpec("DV603", "The deployed code is the built bundle",
              "deployed `{function}` has CodeSha256 `{deployed}` but the built bundle zips to `{built}`; redeploy"),
    CheckSpec("DV610", "The function reported no errors recently",
              "`{function}` reported {errors} error(s) and {throttles} throttle(s) in the last {window_min} min"),
    CheckSpec("DV611", "The trigger queue is draining",
              "oldest message in `{queue}` is {age_s}s old (limit {limit_s}s); the worker is not consuming"),
    CheckSpec("DV612", "No work is stuck in a non-final status",
              "{count} row(s) of `{table}` sit in {statuses} for more than {threshold_min} min (oldest {oldest}, "
              "ids {sample}); the worker is not finishing them: check its trigger and logs, then reprocess them"),
    CheckSpec("DV613", "The success rate meets its target",
              "{processed} of {finished} document(s) finished in the last {window} were `{final}` ({percent}%, "
              "target > {threshold}%), {failed} `{failed_status}`; read the failed rows' errors and fix the cause"),
    CheckSpec("DV614", "The function's error rate and duration meet their targets",
              "`{function}`: {problem} in the last {window}; fix what the logs show for the failing or slow "
              "invocations"),
    CheckSpec("DV615", "No invocation ran into the timeout",
              "`{function}`: {count} invocation(s) hit the {timeout_s}s timeout in the last {window} (allowed "
              "{threshold}; ids {sample}); make the work faster or raise the timeout"),
    CheckSpec("DV616", "The DLQ holds no parked message",
              "DLQ `{queue}` holds {count} message(s) (allowed {threshold}); the oldest is {oldest} old and SQS "
              "deletes it in {left} (retention {retention}): reprocess them before they expire"),
    CheckSpec("DV617", "Database connections stay below their limit",
              "{active} of max_connections {maximum} in use ({percent}%, limit {threshold}%); close idle "
              "connections, raise max_connections or add a proxy"),
    CheckSpec("DV618", "Concurrency is reserved and the timeout has a margin",
              "`{function}`: {problem}; {fix}"),
    CheckSpec("DV619", "Each scheduled task is scheduled and ran",
              "scheduled task `{function}` ({expression}): {problem}; deploy the schedule as declared"),
    CheckSpec("DV620", "The month's cost stays within budget",
              "estimated month {arithmetic}; over the ${budget} budget: find what grew (requests, duration or "
              "documents) before the bill does"),
    CheckSpec("DV621", "Every migration phase is done",
              "{count} migration phase(s) not done: {phases}; finish them (each phase is done when its checks pass)"),
)

CHECKS: dict[str, CheckSpec] = {spec.id: spec for spec in _TABLE}


def spec(check_id: str) -> CheckSpec:
    try:
        return CHECKS[check_id]
    except KeyError:
        raise KeyError(f"unknown check id {check_id!r}; add it to deployverify/core/registry.py") from None


def message(check_id: str, **values: Any) -> str:
    return spec(check_id).message(**values)
