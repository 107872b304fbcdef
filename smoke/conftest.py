"""Fixtures of the smoke (and canary) suite: AWS clients, the secrets, the database, the test user, the documents.

Each is computed once per process (session scope). Under pytest-xdist, what must happen once per run (a document's
trip through the pipeline, the DLQ's state before the first push) is computed by one process and shared with the
others through the run's state folder (`deployverify.core.run_store`). Cleanup: a document's row and object go as
soon as its trip ends; everything else the run made (the test user, leftovers of a crash, trigger messages still
in a queue) is removed by the last process to leave the run, in a `finally`, so Ctrl-C and failures clean up too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from psycopg2.extensions import connection as Connection

from deployverify.core import check as dv
from deployverify.core import redact
from deployverify.core import run_store as run_state
from deployverify.core.errors import DeployVerifyError
from deployverify.gate.probe.imports import BundleIndex
from deployverify.pipeline import db, dlq, seed
from deployverify.pipeline import documents as pipeline
from deployverify.pipeline.secret_keys import KeyRead, collect_key_reads, reads_for_secret
from deployverify.pipeline.secrets import FetchedSecret, SecretUnreadable, fetch
from deployverify.plugin import RUN_KEY
from deployverify.run_context import RunContext
from deployverify.target import Target

QUEUE_SWEEP_MAX_S = 60.0  # how long the last process waits for trigger messages the worker still holds


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Checks taking `document` run once per fixture document of the target (merged into one result per id)."""
    if "document" not in metafunc.fixturenames:
        return
    info = metafunc.config.stash.get(RUN_KEY, None)
    target = info.target if info is not None else None
    keys = pipeline.document_keys(target.pipeline) if target is not None and target.pipeline else []
    metafunc.parametrize("document", keys or [None], ids=keys or ["no-documents"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Access, secrets and database first, then the documents' checks with DV501 of every document before DV502 of
    any (pytest-xdist hands out consecutive items, so the workers start on different documents at once), then the
    checks that look at the run as a whole."""
    def order(item: pytest.Item) -> tuple[int, str, int]:
        marker = item.get_closest_marker("dv_check")
        check_id = str(marker.args[0]) if marker else "DV999"
        callspec = getattr(item, "callspec", None)
        document = callspec.params.get("document") if callspec is not None else None
        if document is not None:
            return 1, check_id, position.setdefault(str(document), len(position))
        return (0 if check_id < "DV500" else 2), check_id, 0

    here = Path(__file__).parent
    mine = [item for item in items if Path(item.path).is_relative_to(here)]
    position: dict[str, int] = {}
    for item in mine:  # documents keep the target's order
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("document") is not None:
            position.setdefault(str(callspec.params["document"]), len(position))
    items[:] = [item for item in items if not Path(item.path).is_relative_to(here)] + sorted(mine, key=order)


# -- AWS ---------------------------------------------------------------------------------------------------------------


@dataclass
class Aws:
    """boto3 clients made the one way (deployverify.aws.session: credential chain, region, endpoints, retry mode)."""

    target: Target
    _made: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._made:
            from deployverify.aws.session import client

            self._made[service] = client(service, self.target)
        return self._made[service]

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    def clients(self) -> pipeline.Clients:
        return pipeline.Clients(s3=self.client("s3"), sqs=self.sqs, lambda_=self.client("lambda"),
                                logs=self.client("logs"))


@pytest.fixture(scope="session")
def aws(target: Target) -> Aws:
    from deployverify.aws.session import region

    try:
        region(target)
    except DeployVerifyError as exc:
        dv.fail(f"AWS is not configured: {exc}")
    return Aws(target)


# -- secrets and the code that reads them ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fetched_secrets(target: Target, aws: Aws) -> dict[str, FetchedSecret | SecretUnreadable]:
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


def _attempt(plan: db.ConnectionPlan | Exception) -> Iterator[Connection | Exception]:
    if isinstance(plan, Exception):
        yield plan
        return
    try:
        conn = db.connect(plan)
    except psycopg2.Error as exc:
        yield exc
        return
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="session")
def db_attempt(db_plan: db.ConnectionPlan | Exception) -> Iterator[Connection | Exception]:
    """The worker's connection (DV410), or why it failed."""
    yield from _attempt(db_plan)


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
    for found in _attempt(harness_plan):
        if isinstance(found, Exception):
            dv.blocked("DV410", "the database does not accept a connection with the secret's settings")
        yield found


# -- the run: shared state and the final cleanup -----------------------------------------------------------------------


@dataclass
class SmokeSession:
    info: RunContext
    state: run_state.RunStore

    @property
    def run_id(self) -> str:
        return self.info.run_id

    def outcomes(self) -> list[pipeline.Outcome]:
        found = (self.state.read(name) for name in self.state.names("doc-"))
        return [pipeline.Outcome.from_dict(data) for data in found if data is not None]


@pytest.fixture(scope="session")
def smoke_run(dv_run: RunContext, target: Target, aws: Aws, request: pytest.FixtureRequest) -> Iterator[SmokeSession]:
    try:
        harness_plan: db.ConnectionPlan | Exception = request.getfixturevalue("harness_plan")
    except pytest.skip.Exception as exc:  # no database, or its secret is unreadable: no rows to remove
        harness_plan = RuntimeError(str(exc))
    run_state.prune()
    state = run_state.RunStore(dv_run.run_id)
    state.join()
    run = SmokeSession(dv_run, state)
    try:
        yield run
    finally:
        state.leave(lambda: _remove_run_leftovers(run, target, aws, harness_plan))


def _say(text: str) -> None:
    print(f"deployverify: {redact.redact(text)}", file=sys.stderr, flush=True)


def _remove_run_leftovers(run: SmokeSession, target: Target, aws: Aws, plan: db.ConnectionPlan | Exception) -> None:
    """Run by the last process of the run: every trace of the run, found by its run id, and nothing else."""
    steps: list[tuple[str, Callable[[], object]]] = []
    pipe = target.pipeline
    if pipe is not None:
        steps.append((f"objects under s3://{pipe.bucket}/{pipe.key_prefix}/{run.run_id}/",
                      lambda: pipeline.remove_run_objects(aws.client("s3"), pipe.bucket, pipe.key_prefix, run.run_id)))
        steps.append(("trigger and DLQ messages", lambda: _remove_run_messages(run, target, aws)))
    if not isinstance(plan, Exception):
        steps.append(("database rows tagged with the run id", lambda: _remove_run_rows(target, plan, run.run_id)))
    for what, step in steps:
        try:
            step()
        except (ClientError, BotoCoreError, psycopg2.Error, OSError, DeployVerifyError) as exc:
            _say(f"cleanup of {what} failed: {type(exc).__name__}: {exc}")


def _remove_run_messages(run: SmokeSession, target: Target, aws: Aws) -> None:
    assert target.pipeline is not None
    urls = [u for u in (_queue_url(aws, target.pipeline.trigger.queue), _queue_url(aws, target.dlq)) if u]
    if not urls:
        return
    # Triggers the worker never settled may come back (retry) or move to the DLQ: wait for them, within reason.
    pending = pipeline.unfinished_message_ids(run.outcomes())
    timeout = min(QUEUE_SWEEP_MAX_S, max(dlq.visibility_timeout(aws.sqs, u) for u in urls) + 5) if pending else 0
    sweep = dlq.remove_run_messages(aws.sqs, urls, run.run_id, pending, timeout_s=timeout)
    if sweep.unreached:
        _say(f"{len(sweep.unreached)} trigger message(s) of run {run.run_id} are still held by the worker "
             f"({', '.join(sweep.unreached)}); they will end in the DLQ: delete them there")


def _remove_run_rows(target: Target, plan: db.ConnectionPlan, run_id: str) -> None:
    conn = db.connect(plan)
    try:
        pipe = target.pipeline
        if pipe is not None and db.table_columns(conn, pipe.status_table):
            pipeline.remove_run_rows(conn, pipe, run_id)
        if target.seed is not None:
            # A user that still owns documents is kept: they are not this run's (this run's are gone by now).
            owner = None
            if pipe is not None:
                tables = seed.seeded_tables(seed.seed_script(target.seed))
                owner = next((c for t in tables if (c := db.foreign_key_to(conn, pipe.status_table, t))), None)
            seed.remove_run_rows(conn, target.seed, run_id, guard_table=pipe.status_table if pipe and owner else None,
                                 guard_column=owner)
    finally:
        conn.close()


def _queue_url(aws: Aws, queue: str | None) -> str | None:
    if not queue:
        return None
    try:
        return dlq.queue_url(aws.sqs, queue)
    except (dlq.QueueMissing, ClientError, BotoCoreError):
        return None


# -- the test user and the documents -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def seeded_user(target: Target, database: Connection, smoke_run: SmokeSession) -> seed.SeededUser | Exception:
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
def dlq_before(target: Target, aws: Aws, smoke_run: SmokeSession) -> dict[str, Any]:
    """The DLQ as it was before this run pushed anything (taken once per run, by whichever process is first)."""
    if target.dlq is None:
        dv.not_applicable("the target declares no DLQ (dlq.queue)")
    queue = target.dlq

    def look() -> dict[str, Any]:
        try:
            url = dlq.queue_url(aws.sqs, queue)
            depth = dlq.depth(aws.sqs, url)
            sampled = [m.render() for m in dlq.sample(aws.sqs, url)] if depth.total else []
        except dlq.QueueMissing:
            return {"error": f"queue `{queue}` does not exist"}
        except (ClientError, BotoCoreError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        return {"url": url, "count": depth.total, "depth": str(depth), "sample": sampled}

    return smoke_run.state.once("dlq-before", look)


@pytest.fixture(scope="session")
def pipeline_context(target: Target, aws: Aws, database: Connection, test_user: seed.SeededUser,
                     smoke_run: SmokeSession, request: pytest.FixtureRequest) -> pipeline.Context:
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
    return pipeline.Context(target=target, pipeline=pipe, run_id=smoke_run.run_id, clients=aws.clients(),
                            conn=database, user_id=test_user.id,
                            layout=pipeline.row_layout(database, pipe, test_user.table), queue_url=queue_url,
                            dlq_url=_queue_url(aws, target.dlq))


@pytest.fixture(scope="session")
def document_outcome(target: Target, smoke_run: SmokeSession,
                     request: pytest.FixtureRequest) -> Callable[[str], pipeline.Outcome]:
    """`document_outcome(key)`: the document's trip through the pipeline, made once per run by whichever process
    asks first; the others wait for it and read it."""
    if target.pipeline is None:
        dv.not_applicable("the target declares no pipeline")
    documents = dict(zip(pipeline.document_keys(target.pipeline), target.pipeline.documents, strict=True))
    # Another process's trip: the row's timeout, the logs, the cleanup, with room to spare.
    budget = target.pipeline.timeout_s + pipeline.REPORT_WAIT_S + 300

    def trip(key: str) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            ctx: pipeline.Context = request.getfixturevalue("pipeline_context")
            return pipeline.run_document(ctx, key, documents[key]).to_dict()

        return run

    def get(key: str) -> pipeline.Outcome:
        # While another process sends this document through, send one nobody has started: under -n the
        # processes share the documents whatever order the checks reach them in.
        state = smoke_run.state
        while (found := state.try_once(f"doc-{key}", trip(key))) is None:
            if not any(state.try_once(f"doc-{other}", trip(other)) is not None
                       for other in documents if other != key and state.read(f"doc-{other}") is None):
                found = state.once(f"doc-{key}", trip(key), timeout_s=budget)
                break
        return pipeline.Outcome.from_dict(found)

    return get


@pytest.fixture
def outcome(document: str | None, request: pytest.FixtureRequest) -> pipeline.Outcome:
    """This check's document, through the pipeline."""
    if document is None:
        dv.not_applicable("the target lists no pipeline documents")
    get: Callable[[str], pipeline.Outcome] = request.getfixturevalue("document_outcome")
    return get(document)


@pytest.fixture
def all_documents(target: Target, request: pytest.FixtureRequest) -> list[pipeline.Outcome]:
    """Every document's outcome, waiting for those other processes are still running: "after the run"."""
    if target.pipeline is None:
        return []
    try:
        get: Callable[[str], pipeline.Outcome] = request.getfixturevalue("document_outcome")
        return [get(key) for key in pipeline.document_keys(target.pipeline)]
    except pytest.skip.Exception:
        return []  # the pipeline could not run (a check before it failed): the DLQ is judged as it is
