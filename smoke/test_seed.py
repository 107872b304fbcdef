"""DV420: the test user is seeded, idempotently and in one transaction."""

from __future__ import annotations

import psycopg2
from psycopg2.extensions import connection as Connection

from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.pipeline import db, seed
from deployverify.target import Target


@check("DV420")
def test_user_seeded(target: Target, database: Connection, seeded_user: seed.SeededUser | Exception,
                     dv_run: object) -> None:
    """The target's seed SQL (`seed.sql`, run with `%(email)s` and `%(run_id)s`) leaves exactly one user with the
    target's email, in one transaction, and running it a second time changes nothing. A user this run created
    carries the run id and is removed at the end; one that existed before is left alone."""
    assert target.seed is not None
    email = target.seed.email
    if isinstance(seeded_user, Exception):
        error = db.describe_error(seeded_user) if isinstance(seeded_user, psycopg2.Error) else str(seeded_user)
        dv.fail(registry.message("DV420", email=email, error=error,
                                 fix="make the seed SQL run on this schema (see DV411)"))
    run_id = getattr(dv_run, "run_id", "")
    before = seed.snapshot(database, target.seed, run_id)
    again = seed.run_seed(database, target.seed, run_id)
    after = seed.snapshot(database, target.seed, run_id)
    if before != after or again.id != seeded_user.id:
        changed = [t for t in after if before.get(t) != after.get(t)] or [seeded_user.table]
        dv.fail(registry.message("DV420", email=email, error=f"a second run changed {', '.join(changed)}",
                                 fix="make the seed idempotent (INSERT ... ON CONFLICT DO NOTHING)"))
    rows = after.get(seeded_user.table, [])
    matching = [r for r in rows if email in str(r)]
    if len(matching) != 1:
        dv.fail(registry.message("DV420", email=email, error=f"{len(matching)} rows in {seeded_user.table} carry it",
                                 fix="give the email column a unique constraint and seed with ON CONFLICT"))
    made = "created by this run (removed at the end)" if seeded_user.created_by_run else "already there (kept)"
    dv.evidence(f"user {seeded_user.id} <{email}> in {seeded_user.table}: {made}; a second seed changed nothing")
