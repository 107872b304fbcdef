"""How the processes of one smoke run share it: the run's store, each document's trip made once, the check order.

Under pytest-xdist every process has its own fixtures, but a document must go through the pipeline once per run
(a second trip would be a second row, a second message, a second invocation). So the first process to ask for a
document's outcome makes the trip and writes it to the run's store (`deployverify.core.run_store`); the others read
it. While another process is on a document, a process starts one nobody has started yet instead of waiting, so the
processes share the documents whatever order their checks reach them in. The last process to leave the run
removes what the run left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployverify.core import run_store
from deployverify.pipeline.records import DocumentOutcome, outcome_from_json, outcome_to_json
from deployverify.pipeline.rows import document_keys
from deployverify.pipeline.trip import REPORT_WAIT_S
from deployverify.run_context import RunContext
from deployverify.target.model import Document, Pipeline

OUTCOME_PREFIX = "doc-"
TRIP_SLACK_S = 300.0  # on top of another process's trip budget: its logs and its cleanup, with room to spare


@dataclass
class SharedSmokeRun:
    """This process's membership in a smoke run that several processes may share: the run and its store."""

    info: RunContext
    store: run_store.RunStore

    @property
    def run_id(self) -> str:
        return self.info.run_id

    def outcomes(self) -> list[DocumentOutcome]:
        return read_outcomes(self.store)


def read_outcomes(store: run_store.RunStore) -> list[DocumentOutcome]:
    """Every document outcome written to the run's store so far, by any process of the run."""
    found = (store.read(name) for name in store.names(OUTCOME_PREFIX))
    return [outcome_from_json(data) for data in found if data is not None]


@contextmanager
def joined_run(info: RunContext, last_one_out: Callable[[SharedSmokeRun], None]) -> Iterator[SharedSmokeRun]:
    """Join the run's store for the length of the block; the last process to leave runs `last_one_out` (in a
    `finally`, so failures and Ctrl-C clean up too)."""
    run_store.prune()
    store = run_store.RunStore(info.run_id)
    store.join()
    shared = SharedSmokeRun(info, store)
    try:
        yield shared
    finally:
        store.leave(lambda: last_one_out(shared))


class DocumentTrips:
    """`trips.outcome(key)`: the document's trip through the pipeline, made once per run by whichever process asks
    first; the others wait for it and read it. `travel(key, document)` makes one trip (in this process)."""

    def __init__(self, shared: SharedSmokeRun, pipeline: Pipeline,
                 travel: Callable[[str, Document], DocumentOutcome]) -> None:
        self.shared = shared
        self.documents = dict(zip(document_keys(pipeline), pipeline.documents, strict=True))
        self.travel = travel
        # Another process's trip: the row's timeout, the logs, the cleanup.
        self.budget_s = pipeline.timeout_s + REPORT_WAIT_S + TRIP_SLACK_S

    def _trip(self, key: str) -> Callable[[], dict[str, Any]]:
        return lambda: outcome_to_json(self.travel(key, self.documents[key]))

    def outcome(self, key: str) -> DocumentOutcome:
        store = self.shared.store
        while (found := store.try_once(OUTCOME_PREFIX + key, self._trip(key))) is None:
            # Another process is on this document: send one nobody has started, or wait when none is left.
            if not any(store.try_once(OUTCOME_PREFIX + other, self._trip(other)) is not None
                       for other in self.documents
                       if other != key and store.read(OUTCOME_PREFIX + other) is None):
                found = store.once(OUTCOME_PREFIX + key, self._trip(key), timeout_s=self.budget_s)
                break
        return outcome_from_json(found)


def order_smoke_items(items: list[pytest.Item], folder: Path) -> None:
    """Reorder the items of the suite in `folder` (others keep their place, first): access, secrets and database
    first, then the documents' checks with DV501 of every document before DV502 of any (pytest-xdist hands out
    consecutive items, so the workers start on different documents at once), then the checks that look at the run
    as a whole."""
    def document_of(item: pytest.Item) -> str | None:
        callspec = getattr(item, "callspec", None)
        document = callspec.params.get("document") if callspec is not None else None
        return None if document is None else str(document)

    def order(item: pytest.Item) -> tuple[int, str, int]:
        marker = item.get_closest_marker("dv_check")
        check_id = str(marker.args[0]) if marker else "DV999"
        document = document_of(item)
        if document is not None:
            return 1, check_id, position.setdefault(document, len(position))
        return (0 if check_id < "DV500" else 2), check_id, 0

    mine = [item for item in items if Path(item.path).is_relative_to(folder)]
    position: dict[str, int] = {}
    for item in mine:  # documents keep the target's order
        document = document_of(item)
        if document is not None:
            position.setdefault(document, len(position))
    items[:] = [item for item in items if not Path(item.path).is_relative_to(folder)] + sorted(mine, key=order)
