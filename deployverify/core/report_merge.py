"""One run report from the report folders of a sharded run (a CI matrix over functions, environments or checks).

Each shard's checks fold into one result per check id exactly as the plugin folds parametrised items: the worst
status wins, evidence and findings add up. Shards are sorted by content first, so the merge does not depend on the
order the folders are given (or the order a CI's artifact download lays them out). The same shard twice (same run
id, same checks) would double every count, so it is an input error.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from deployverify.core.errors import DeployVerifyError
from deployverify.core.results import Result, RunReport, merge_result

# When shards ran in different modes, the merged report is in the latest moment's mode.
_MODE_ORDER = ("gate", "smoke", "canary")


def load_shard(folder: Path) -> RunReport:
    path = folder / "report.json"
    if not path.is_file():
        raise DeployVerifyError("no report.json in this folder", where=str(folder))
    try:
        return RunReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise DeployVerifyError(f"not a deployverify report.json: {type(exc).__name__}: {exc}",
                                where=str(path)) from None


def shard_key(run: RunReport) -> tuple[str, tuple[str, ...]]:
    return run.run_id, tuple(sorted(r.id + (f"/{r.function}" if r.function else "") for r in run.checks))


def _order(run: RunReport) -> str:
    return json.dumps(run.to_dict(), sort_keys=True)


def merge_runs(shards: list[tuple[str, RunReport]], run_id: str | None = None) -> RunReport:
    """`shards` are (where it came from, its report); `where` only names a duplicate in the error."""
    if not shards:
        raise DeployVerifyError("nothing to merge: give at least one report folder")
    seen: dict[tuple[str, tuple[str, ...]], str] = {}
    for where, run in shards:
        key = shard_key(run)
        if key in seen:
            raise DeployVerifyError(f"duplicate shard: run {run.run_id} with the same {len(key[1])} check(s) as "
                                    f"{seen[key]}; each shard must be merged once", where=where)
        seen[key] = where
    ordered = sorted((run for _, run in shards), key=_order)
    merged: dict[tuple[str, str | None], Result] = {}
    for run in ordered:
        for result in sorted(run.checks, key=lambda r: json.dumps(r.to_dict(), sort_keys=True)):
            have = merged.get((result.id, result.function))
            if have is None:
                merged[(result.id, result.function)] = copy.deepcopy(result)
            else:
                merge_result(have, result)
    run_ids = sorted({run.run_id for run in ordered})
    if run_id is None:
        run_id = run_ids[0] if len(run_ids) == 1 else \
            "merged-" + hashlib.sha256(" ".join(run_ids).encode()).hexdigest()[:12]
    modes = {run.mode for run in ordered}
    mode = max(modes, key=lambda m: _MODE_ORDER.index(m) if m in _MODE_ORDER else -1)
    return RunReport(run_id=run_id, target="+".join(sorted({run.target for run in ordered})), mode=mode,
                     started_at=min(run.started_at for run in ordered),
                     finished_at=max(run.finished_at for run in ordered), checks=list(merged.values()))


def merge_folders(folders: list[Path], run_id: str | None = None) -> RunReport:
    return merge_runs([(str(folder), load_shard(folder)) for folder in folders], run_id)
