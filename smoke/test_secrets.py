"""DV401-DV403: the declared secrets can be read, match their schema, and hold every key the code reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.core.results import Finding, Severity
from deployverify.pipeline.secret_keys import KeyRead, reads_for_secret
from deployverify.pipeline.secrets import FetchedSecret, SecretUnreadable, json_schema, suggest_key, validate
from deployverify.target import Target

Fetched = dict[str, FetchedSecret | SecretUnreadable]


def _readable(target: Target, fetched: Fetched) -> list[FetchedSecret]:
    if not target.secrets:
        dv.not_applicable("the target declares no secrets")
    found = [s for s in fetched.values() if isinstance(s, FetchedSecret)]
    if not found:
        dv.blocked("DV401", "no declared secret could be read")
    return found


@check("DV401")
def test_secrets_readable(target: Target, fetched_secrets: Fetched) -> None:
    """Each secret in `secrets[]` is fetched from Secrets Manager with the credentials deployverify runs with, and
    its SecretString is a JSON object. Every value is registered for redaction as it is read; only key names are
    ever shown."""
    if not target.secrets:
        dv.not_applicable("the target declares no secrets")
    for spec in target.secrets:
        got = fetched_secrets[spec.id]
        if isinstance(got, SecretUnreadable):
            dv.fail(registry.message("DV401", secret=spec.id, reason=got.reason, fix=got.fix))
        dv.evidence(f"secret `{spec.id}`: keys {got.describe_keys()}")


@check("DV402")
def test_secrets_match_schema(target: Target, fetched_secrets: Fetched) -> None:
    """Each secret satisfies the JSON Schema built from its `secrets[]` entry: every `required` key present under
    its name or one of its `aliases` (e.g. `database` | `dbname` | `db_name`), and every key in `types` of that
    JSON type. A missing key is named with the keys that are present; values are never shown."""
    declared = [s for s in target.secrets if s.required or s.types]
    if not declared:
        dv.not_applicable("no secret declares required keys or types")
    findings = []
    for secret in _readable(target, fetched_secrets):
        if not (secret.spec.required or secret.spec.types):
            continue
        dv.evidence(f"schema of `{secret.spec.id}`: {json_schema(secret.spec)}")
        for problem in validate(secret):
            findings.append(Finding("DV402", f"secret:{secret.spec.id}", 0, registry.message(
                "DV402", secret=secret.spec.id, problem=problem.problem, present=secret.describe_keys(),
                fix=problem.fix)))
    dv.expect_no_findings(findings, what="schema problem")


def _finding(read: KeyRead, secret: FetchedSecret, root: Path | None) -> Finding:
    suggested = suggest_key(secret, read.key)
    message = registry.message("DV403", key=read.key, where=read.where(root), secret=secret.spec.id,
                               present=secret.describe_keys(), suggest=suggested or "the key the secret has")
    if read.optional:
        message += " (the code falls back to a default, so the worker runs with that instead)"
    path = str(read.path.relative_to(root)) if root is not None and read.path.is_relative_to(root) else str(read.path)
    return Finding("DV403", path, read.line, message, Severity.WARNING if read.optional else Severity.ERROR,
                   call_path=(read.function,))


@check("DV403")
def test_code_keys_exist(target: Target, fetched_secrets: Fetched, code_key_reads: list[KeyRead] | None,
                         build_outcome: Any) -> None:
    """Every key the bundle's code reads from a secret exists in it. The keys are collected statically: subscripts
    and `.get()` on the parsed `json.loads(resp["SecretString"])`, followed through variables, returns and calls
    within first-party code. Alternatives the code tries in turn (`.get("database") or .get("dbname")`, a loop over
    spellings) need one of them; a read with a default only warns."""
    secrets = _readable(target, fetched_secrets)
    if code_key_reads is None:
        dv.blocked("DV101", "the bundle did not build, so its code cannot be read")
    root = build_outcome.path
    findings = []
    for secret in secrets:
        reads = reads_for_secret(code_key_reads, secret.spec.env, secret.spec.id, len(target.secrets))
        for read in reads:
            if not any(key in secret.values for key in read.keys):
                findings.append(_finding(read, secret, root))
        keys = ", ".join("|".join(r.keys) + ("?" if r.optional else "") for r in reads) or "none found"
        dv.evidence(f"code reads from `{secret.spec.id}`: {keys}")
    dv.expect_no_findings(findings, what="missing key")
