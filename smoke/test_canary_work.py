"""DV612, DV613, DV617 (canary only): the status table's stuck rows and success rate, and the database's
connections, read with SELECTs only."""

from __future__ import annotations

import pytest
from psycopg2.extensions import connection as Connection

from deployverify.canary import stuck_work
from deployverify.canary.window import Window, age_text
from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.pipeline import db
from deployverify.target import Target
from deployverify.target.model import Pipeline

READ_ONLY = ("read only: the canary ran SELECTs on production rows and never changes or removes a row, object or "
             "message it did not create")


def _pipeline(target: Target) -> Pipeline:
    if target.pipeline is None:
        dv.not_applicable("the target declares no pipeline (no status table)")
    return target.pipeline


@pytest.mark.canary
@check("DV612")
def test_no_stuck_work(target: Target, database: Connection) -> None:
    """No row of the status table sits in a non-final status (neither `final_status` nor `failed_status`) for longer
    than `canary.stuck_after_min` (default 60 min), aged by `canary.timestamp_column` (default `updated_at`). The
    seed's 180 documents sat in `uploaded` for 45 days while the function reported no error: this check fails on
    the first night, naming the count, the oldest age and sample ids."""
    pipe = _pipeline(target)
    threshold = target.canary.stuck_after_min
    try:
        stuck = stuck_work.stuck_work(database, pipe, target.canary.timestamp_column, threshold)
    except stuck_work.StatusTableMissing as exc:
        dv.fail(f"{exc}; fix pipeline.status_table or canary.timestamp_column")
    dv.evidence(READ_ONLY)
    statuses = ", ".join(f"`{s}` ({n})" for s, n in sorted(stuck.by_status.items()))
    dv.evidence(f"`{pipe.status_table}`: {stuck.count} row(s) in a non-final status for more than {threshold} min"
                + (f": {statuses}" if statuses else ""))
    if stuck.count:
        dv.fail(registry.message("DV612", count=stuck.count, table=pipe.status_table, statuses=statuses,
                                 threshold_min=threshold, oldest=age_text(stuck.oldest_age_s),
                                 sample=", ".join(stuck.sample_ids)))


@pytest.mark.canary
@check("DV613")
def test_success_rate(target: Target, database: Connection) -> None:
    """Of the rows that finished within the window (`final_status` or `failed_status`, by
    `canary.timestamp_column`), more than `canary.min_success_percent` (default 95%) reached `final_status`.
    Rows of verification runs (a `run_id`) are not counted."""
    pipe = _pipeline(target)
    window = Window.last(target.canary.window_min)
    try:
        rate = stuck_work.success_rate(database, pipe, target.canary.timestamp_column, window)
    except stuck_work.StatusTableMissing as exc:
        dv.fail(f"{exc}; fix pipeline.status_table or canary.timestamp_column")
    dv.evidence(READ_ONLY)
    threshold = target.canary.min_success_percent
    if rate.percent is None:
        dv.evidence(f"no document finished in the last {window.describe()}: nothing to rate")
        return
    dv.evidence(f"{rate.processed} `{pipe.final_status}`, {rate.failed} `{pipe.failed_status}` in the last "
                f"{window.describe()}: {rate.percent:.1f}%")
    if rate.percent <= threshold:
        dv.fail(registry.message("DV613", processed=rate.processed, finished=rate.finished, window=window.describe(),
                                 final=pipe.final_status, percent=f"{rate.percent:.1f}", threshold=f"{threshold:g}",
                                 failed=rate.failed, failed_status=pipe.failed_status))


@pytest.mark.canary
@check("DV617")
def test_connections_below_limit(target: Target, database: Connection) -> None:
    """Connections in use (every client backend, idle or not, this run's own included) stay below
    `canary.max_db_connections_percent` (default 80%) of max_connections."""
    room = db.headroom(database)
    threshold = target.canary.max_db_connections_percent
    dv.evidence(f"{room.active} of max_connections {room.maximum} in use ({room.percent}%); "
                f"{room.reserved} reserved for superusers")
    if room.percent >= threshold:
        dv.fail(registry.message("DV617", active=room.active, maximum=room.maximum, percent=room.percent,
                                 threshold=f"{threshold:g}"))
