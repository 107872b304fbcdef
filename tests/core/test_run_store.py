"""The run's shared state across real processes: computed once, shared, and cleaned by the last one to leave."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from deployverify.core.run_store import RunStore

CONTEXT = multiprocessing.get_context("fork")


def _compute_once(root: str, log: str, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    def compute() -> dict[str, int]:
        with open(log, "a") as out:
            out.write(f"{os.getpid()}\n")
        time.sleep(0.3)
        return {"by": os.getpid()}

    results.put(RunStore("dv-run-once", Path(root)).once("doc-a", compute)["by"])


def test_once_computes_in_one_process_and_shares_the_result(tmp_path: Path) -> None:
    results: multiprocessing.Queue = CONTEXT.Queue()  # type: ignore[type-arg]
    log = tmp_path / "computed"
    workers = [CONTEXT.Process(target=_compute_once, args=(str(tmp_path), str(log), results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    computed_by = [int(line) for line in log.read_text().split()]
    assert len(computed_by) == 1
    assert [results.get(timeout=5) for _ in workers] == computed_by * 3


def _hold(root: str, started: multiprocessing.Event, release: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    def compute() -> dict[str, int]:
        started.set()
        release.wait(30)
        return {"done": 1}

    RunStore("dv-run-try", Path(root)).once("doc-b", compute)


def test_try_once_does_not_wait_for_another_process(tmp_path: Path) -> None:
    started, release = CONTEXT.Event(), CONTEXT.Event()
    holder = CONTEXT.Process(target=_hold, args=(str(tmp_path), started, release))
    holder.start()
    try:
        assert started.wait(30)
        state = RunStore("dv-run-try", tmp_path)
        assert state.try_once("doc-b", lambda: {"done": 2}) is None  # busy elsewhere: do something else
        assert state.try_once("doc-c", lambda: {"done": 3}) == {"done": 3}
    finally:
        release.set()
        holder.join(30)
    assert state.try_once("doc-b", lambda: {"done": 2}) == {"done": 1}


def _participate(root: str, joined: multiprocessing.Event, leave: multiprocessing.Event,  # type: ignore[type-arg]
                 results: multiprocessing.Queue, crash: bool) -> None:  # type: ignore[type-arg]
    state = RunStore("dv-run-leave", Path(root))
    state.join()
    joined.set()
    leave.wait(30)
    if crash:
        os._exit(1)
    results.put(state.leave(lambda: None))


def test_only_the_last_process_to_leave_cleans_up_and_a_crash_does_not_block_it(tmp_path: Path) -> None:
    results: multiprocessing.Queue = CONTEXT.Queue()  # type: ignore[type-arg]
    events = [(CONTEXT.Event(), CONTEXT.Event()) for _ in range(2)]
    first = CONTEXT.Process(target=_participate, args=(str(tmp_path), *events[0], results, False))
    crashed = CONTEXT.Process(target=_participate, args=(str(tmp_path), *events[1], results, True))
    for process, (joined, _) in ((first, events[0]), (crashed, events[1])):
        process.start()
        assert joined.wait(30)
    me = RunStore("dv-run-leave", tmp_path)
    me.join()

    events[0][1].set()
    first.join(30)
    assert results.get(timeout=5) is False  # the crashed one and this one still participate
    events[1][1].set()
    crashed.join(30)
    cleaned: list[bool] = []
    assert me.leave(lambda: cleaned.append(True)) is True
    assert cleaned == [True]
