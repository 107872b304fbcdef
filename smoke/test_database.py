"""DV410-DV412: the database accepts the worker's connection, has the status table, and has connections to spare."""

from __future__ import annotations

import psycopg2
from psycopg2.extensions import connection as Connection

from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.core.results import Finding, Severity
from deployverify.pipeline import db, rows
from deployverify.target import Target


@check("DV410")
def test_database_connects(db_plan: db.ConnectionPlan | Exception, db_attempt: Connection | Exception) -> None:
    """psycopg2 connects with the database secret exactly as the worker builds its connection (the keys its code
    reads for host, user, password and database name, the secret's port and sslmode), and the server's version is
    recorded."""
    if isinstance(db_plan, db.ConnectionSettingsError):
        dv.fail(registry.message("DV410", error=str(db_plan),
                                 fix="make the secret and the code agree on the key (see DV403)"))
    if isinstance(db_attempt, psycopg2.Error):
        dv.fail(registry.message("DV410", error=db.describe_error(db_attempt), fix=db.fix_for(db_attempt)))
    assert isinstance(db_plan, db.ConnectionPlan)
    assert not isinstance(db_attempt, Exception)
    dv.evidence(f"connected with {db_plan.describe()}", f"server: {db.server_version(db_attempt)}")


@check("DV411")
def test_status_table(target: Target, database: Connection) -> None:
    """The pipeline's status table exists with the id, status and result columns the target names, and the
    `run_id` column that tags the rows a run creates."""
    if target.pipeline is None:
        dv.not_applicable("the target declares no pipeline")
    table = target.pipeline.status_table
    columns = db.table_columns(database, table)
    if columns is None:
        dv.fail(registry.message("DV411", table=table, missing="the table itself (no such table)"))
    missing = [c for c in rows.required_columns(target.pipeline) if c not in columns]
    if missing:
        dv.fail(registry.message("DV411", table=table, missing=", ".join(f"`{c}`" for c in missing)))
    dv.evidence(f"`{table}` columns: {', '.join(sorted(columns))}")


@check("DV412")
def test_connection_headroom(target: Target, database: Connection) -> None:
    """Connections in use stay below 80% of max_connections (a warning above), and the free slots can take one
    connection per concurrent invocation the functions' reserved concurrency allows (a failure if not)."""
    room = db.headroom(database)
    needed = sum(f.reserved_concurrency or 0 for f in target.functions)
    detail = ""
    if needed > room.free:
        detail = f" and the functions may open {needed} more (reserved concurrency) but only {room.free} are free"
    message = registry.message("DV412", active=room.active, maximum=room.maximum, percent=room.percent,
                               detail=detail)
    dv.evidence(f"{room.active} connections of {room.maximum} ({room.reserved} reserved for superusers); "
                f"reserved concurrency {needed}")
    if detail:
        dv.fail(message)
    if room.crowded:
        dv.expect_no_findings([Finding("DV412", "database", 0, message, Severity.WARNING)])
