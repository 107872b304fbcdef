"""Fixtures of the smoke (and canary) suite: AWS clients, the secrets, the database, the test user, the documents.

Each is computed once per process (session scope) and delegates to the engine. Under pytest-xdist, what must
happen once per run (a document's trip through the pipeline, the DLQ's state before the first push) is computed by
one process and shared with the others (`deployverify.pipeline.schedule`). Cleanup: a document's row and object go
as soon as its trip ends; everything else the run made is removed by the last process to leave the run
(`deployverify.pipeline.cleanup`), in a `finally`, so Ctrl-C and failures clean up too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from psycopg2.extensions import connection as Connection

from deployverify.aws.clients import AwsClients
from deployverify.core import check as dv
from deployverify.core import progress, redact
from deployverify.core.errors import DeployVerifyError
from deployverify.gate.probe.imports import BundleIndex
from deployverify.pipeline import cleanup, db, dlq, rows, seed, sweep, trip
from deployverify.pipeline.records import DocumentOutcome
from deployverify.pipeline.schedule import DocumentTrips, SharedSmokeRun, joined_run, order_smoke_items
from deployverify.pipeline.secret_keys import KeyRead, collect_key_reads, reads_for_secret
from deployverify.pipeline.secrets import FetchedSecret, SecretUnreadable, fetch
from deployverify.plugin import run_context
from deployverify.run_context import RunContext
from deployverify.target import Target


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Checks taking `document` run once per fixture document of the target (merged into one result per id)."""
    if "document" not in metafunc.fixturenames:
        return
    info = run_context(metafunc.config)
    target = info.target if info is not None else None
    keys = rows.document_keys(target.pipeline) if target is not None and target.pipeline else []
    metafunc.parametrize("document", keys or [None], ids=keys or ["no-documents"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    order_smoke_items(items, Path(__file__).parent)


# -- AWS ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def aws(target: Target) -> AwsClients:
    from deployverify.aws.session import region

    try:
        region(target)
    except DeployVerifyError as exc:
        dv.fail(f"AWS is not configured: {exc}")
    return AwsClients(target)


# -- secrets and the code that reads them ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fetched_secrets(target: Target, aws: AwsClients) -> dict[str, FetchedSecret | SecretUnreadable]:
    """Every declared secret, parsed (values registered for redaction), or why it could not be read."""
    found: dict[str, FetchedSecret | SecretUnreadable] = {}
    for spec in target.secrets:
        try:
            found[spec.id] = fetch(aws.client("secretsmanager"), spec)
        except SecretUnreadable as exc:
            found[spec.id] = exc
    return found


@pytest.fixture(scope="session")
def code_key_reads(build_outcome: Any) -> list[KeyRead] | None:
    """Keys the bundle's first-party code reads from secrets (None when the bundle did not build)."""
    if isinstance(build_outcome, Exception):
        return None
    index = BundleIndex.from_bundle(build_outcome.path, build_outcome.layers)
    return collect_key_reads((m.name, m.path) for m in index.first_party_modules())


# -- database ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def database_secret(target: Target, fetched_secrets: dict[str, FetchedSecret | SecretUnreadable]) -> FetchedSecret:
    if target.database is None:
        dv.not_applicable("the target declares no database")
    spec = target.secret(target.database.secret)
    secret = fetched_secrets[spec.id]
    if isinstance(secret, Exception):
        dv.blocked("DV401", f"secret `{spec.id}` cannot be read")
    return secret


@pytest.fixture(scope="session")
def db_plan(target: Target, database_secret: FetchedSecret,
            code_key_reads: list[KeyRead] | None) -> db.ConnectionPlan | Exception:
    """How the worker connects, from its secret and the keys its code reads; or why that cannot work."""
    assert target.database is not None
    spec = database_secret.spec
    reads = reads_for_secret(code_key_reads or [], spec.env, spec.id, len(target.secrets))
    try:
        return db.connection_plan(database_secret, reads, connect_timeout_s=target.database.connect_timeout_s)
    except db.ConnectionSettingsError as exc:
        return exc


@pytest.fixture(scope="session")
def harness_plan(target: Target, database_secret: FetchedSecret,
                 db_plan: db.ConnectionPlan | Exception) -> db.ConnectionPlan | Exception:
    """How the suite itself connects: as the worker does when it can; when the worker's code reads a key the secret
    lacks (DV403, DV410 fail), with any spelling the secret has, so the pipeline still shows what the worker does."""
    if not isinstance(db_plan, db.ConnectionSettingsError):
        return db_plan
    assert target.database is not None
    try:
        return db.connection_plan(database_secret, connect_timeout_s=target.database.connect_timeout_s)
    except db.ConnectionSettingsError as exc:
        return exc


@pytest.fixture(scope="session")
def db_attempt(db_plan: db.ConnectionPlan | Exception) -> Iterator[Connection | Exception]:
    """The worker's connection (DV410), or why it failed."""
    yield from db.attempt(db_plan)


@pytest.fixture(scope="session")
def database(harness_plan: db.ConnectionPlan | Exception, db_plan: db.ConnectionPlan | Exception,
             request: pytest.FixtureRequest) -> Iterator[Connection]:
    """The suite's own connection (the worker's, when the worker can connect at all)."""
    if harness_plan is db_plan:
        found = request.getfixturevalue("db_attempt")
        if isinstance(found, Exception):
            dv.blocked("DV410", "the database does not accept the worker's connection")
        yield found
        return
    for found in db.attempt(harness_plan):
        if isinstance(found, Exception):
            dv.blocked("DV410", "the database does not accept a connection with the secret's settings")
        yield found


# -- the run: shared state and the final cleanup -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def smoke_run(dv_run: RunContext, target: Target, aws: AwsClients,
              request: pytest.FixtureRequest) -> Iterator[SharedSmokeRun]:
    try:
        harness_plan: db.ConnectionPlan | Exception = request.getfixturevalue("harness_plan")
    except pytest.skip.Exception as exc:  # no database, or its secret is unreadable: no rows to remove
        harness_plan = RuntimeError(str(exc))

    def last_one_out(shared: SharedSmokeRun) -> None:
        cleanup.remove_run_leftovers(shared.run_id, shared.outcomes, target, aws, harness_plan)

    with joined_run(dv_run, last_one_out) as shared:
        # Once per run, before anything is pushed: what earlier runs tagged and could not remove themselves.
        def swept() -> dict[str, Any]:
            found = sweep.sweep_earlier_runs(shared.run_id, target, aws, harness_plan)
            for line in found["lines"]:
                progress.say(redact.redact(line))  # said once, by the process that swept, around the capture
            return found

        shared.store.once(SWEEP, swept)
        yield shared


SWEEP = "sweep-earlier-runs"


@pytest.fixture(scope="session")
def earlier_runs_swept(smoke_run: SharedSmokeRun) -> list[str]:
    """What this run's sweep removed of earlier runs (evidence lines), the same in every process."""
    found = smoke_run.store.read(SWEEP)
    return list(found["lines"]) if found else []


# -- the test user and the documents -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def seeded_user(target: Target, database: Connection, smoke_run: SharedSmokeRun) -> seed.SeededUser | Exception:
    """The target's test user, seeded (idempotently, in one transaction) by this process; or why it failed."""
    if target.seed is None:
        dv.not_applicable("the target declares no seed")
    try:
        return seed.run_seed(database, target.seed, smoke_run.run_id)
    except (psycopg2.Error, DeployVerifyError) as exc:
        return exc


@pytest.fixture(scope="session")
def test_user(seeded_user: seed.SeededUser | Exception) -> seed.SeededUser:
    if isinstance(seeded_user, Exception):
        dv.blocked("DV420", "the test user could not be seeded")
    return seeded_user


@pytest.fixture(scope="session")
def dlq_before(target: Target, aws: AwsClients, smoke_run: SharedSmokeRun) -> dict[str, Any]:
    """The DLQ as it was before this run pushed anything (taken once per run, by whichever process is first)."""
    if target.dlq is None:
        dv.not_applicable("the target declares no DLQ (dlq.queue)")
    queue = target.dlq
    found = smoke_run.store.once("dlq-before", lambda: dlq.observe(aws.sqs, queue))
    return {**found, "swept": smoke_run.store.read(SWEEP) or {}}


@pytest.fixture(scope="session")
def pipeline_context(target: Target, aws: AwsClients, database: Connection, test_user: seed.SeededUser,
                     smoke_run: SharedSmokeRun, request: pytest.FixtureRequest) -> trip.TripContext:
    if target.pipeline is None:
        dv.not_applicable("the target declares no pipeline")
    if target.dlq is not None:
        request.getfixturevalue("dlq_before")  # taken before this process pushes anything
    pipe = target.pipeline
    queue_url = None
    if pipe.trigger.type == "sqs":
        assert pipe.trigger.queue is not None
        try:
            queue_url = dlq.queue_url(aws.sqs, pipe.trigger.queue)
        except dlq.QueueMissing:
            dv.fail(f"trigger queue `{pipe.trigger.queue}` does not exist; deploy it or fix pipeline.trigger.queue")
    return trip.TripContext(target=target, pipeline=pipe, run_id=smoke_run.run_id, clients=trip.Clients.of(aws.client),
                        conn=database, user_id=test_user.id, layout=rows.row_layout(database, pipe, test_user.table),
                        queue_url=queue_url, dlq_url=dlq.find_queue_url(aws.sqs, target.dlq))


@pytest.fixture(scope="session")
def document_outcome(target: Target, smoke_run: SharedSmokeRun,
                     request: pytest.FixtureRequest) -> Callable[[str], DocumentOutcome]:
    """`document_outcome(key)`: the document's trip through the pipeline, made once per run by whichever process
    asks first; the others wait for it and read it."""
    if target.pipeline is None:
        dv.not_applicable("the target declares no pipeline")

    def travel(key: str, document: Any) -> DocumentOutcome:
        return trip.run_document(request.getfixturevalue("pipeline_context"), key, document)

    return DocumentTrips(smoke_run, target.pipeline, travel).outcome


@pytest.fixture
def outcome(document: str | None, request: pytest.FixtureRequest) -> DocumentOutcome:
    """This check's document, through the pipeline."""
    if document is None:
        dv.not_applicable("the target lists no pipeline documents")
    get: Callable[[str], DocumentOutcome] = request.getfixturevalue("document_outcome")
    return get(document)


@pytest.fixture
def all_documents(target: Target, request: pytest.FixtureRequest) -> list[DocumentOutcome]:
    """Every document's outcome, waiting for those other processes are still running: "after the run"."""
    if target.pipeline is None:
        return []
    try:
        get: Callable[[str], DocumentOutcome] = request.getfixturevalue("document_outcome")
        return [get(key) for key in rows.document_keys(target.pipeline)]
    except pytest.skip.Exception:
        return []  # the pipeline could not run (a check before it failed): the DLQ is judged as it is
