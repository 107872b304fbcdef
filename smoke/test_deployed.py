"""DV601-DV603: the deployed function exists, is configured as the template says, and runs the built code."""

from __future__ import annotations

from typing import Any

from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.deployed import configuration as deployed
from deployverify.deployed.code_identity import built_code_sha256
from deployverify.run_context import RunContext
from deployverify.target import Target

Found = deployed.Deployed | deployed.FunctionMissing | deployed.FunctionUnreadable


def _configs(target: Target, aws: Any) -> list[tuple[deployed.Expected, Found]]:
    found: list[tuple[deployed.Expected, Found]] = []
    for function in target.functions:
        expected = deployed.expected_config(target, function)
        try:
            found.append((expected, deployed.deployed_config(aws.client("lambda"), expected.function_name)))
        except (deployed.FunctionMissing, deployed.FunctionUnreadable) as exc:
            found.append((expected, exc))
    return found


def _present(target: Target, aws: Any) -> list[tuple[deployed.Expected, deployed.Deployed]]:
    pairs = _configs(target, aws)
    present = [(e, d) for e, d in pairs if isinstance(d, deployed.Deployed)]
    if any(isinstance(d, deployed.FunctionUnreadable) for _, d in pairs):
        dv.blocked("DV601", "the deployed function cannot be read")
    if not present:
        dv.blocked("DV601", "no function is deployed")
    return present


@check("DV601")
def test_function_exists(target: Target, aws: Any) -> None:
    """Each function in `functions[]` exists under its `function_name` in the account and region."""
    for expected, found in _configs(target, aws):
        if isinstance(found, deployed.FunctionUnreadable):
            dv.fail(f"function `{expected.function_name}` cannot be read: {found.reason}; check the endpoint, "
                    "region and credentials")
        if isinstance(found, deployed.FunctionMissing):
            dv.fail(registry.message("DV601", function=expected.function_name, reason=found.reason))
        dv.evidence(f"{found.function_name}: {found.runtime}, {found.handler}, last modified {found.last_modified}")


@check("DV602")
def test_configuration_matches(target: Target, aws: Any) -> None:
    """The deployed runtime, handler, timeout, memory, reserved concurrency and environment variable names equal
    the template's (the SAM template when the target names one, else `functions[]`). Values of environment
    variables are never read into the report, only their names."""
    for expected, found in _present(target, aws):
        dv.evidence(f"{found.function_name} against {expected.source}: runtime {found.runtime}, handler "
                    f"{found.handler}, timeout {found.timeout_s}s, memory {found.memory_mb} MB, reserved concurrency "
                    f"{found.reserved_concurrency}, environment keys {', '.join(found.environment_keys) or 'none'}")
        mismatches = deployed.compare(expected, found)
        if mismatches:
            first = mismatches[0]
            more = "; also " + ", ".join(m.field for m in mismatches[1:]) if len(mismatches) > 1 else ""
            dv.fail(registry.message("DV602", function=found.function_name, field=first.field, found=first.found,
                                     expected=first.expected) + more)


@check("DV603")
def test_code_is_built_bundle(target: Target, aws: Any, built_bundle: Any, dv_run: RunContext) -> None:
    """The deployed CodeSha256 equals the SHA-256 (base64) of the built bundle's deterministic zip: what runs is
    what was built and checked.

    The smoke side of DV104 (same comparison, same message): asked after the deploy, so a mismatch means the deploy
    shipped other code. Unlike DV104 it compares CodeSha256 only, without DV104's file-by-file fallback for code
    another tool zipped."""
    built = built_code_sha256(built_bundle.path, dv_run.cache_dir)
    for _expected, found in _present(target, aws):
        dv.evidence(f"{found.function_name}: deployed {found.code_sha256}, built {built}")
        if found.code_sha256 != built:
            dv.fail(registry.message("DV603", function=found.function_name, deployed=found.code_sha256, built=built))
