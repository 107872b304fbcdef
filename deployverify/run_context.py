"""The context of one run: its id (tags everything the run creates), mode, target and where reports go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deployverify.core.run_ids import cache_dir
from deployverify.target import Target

MODES = ("gate", "smoke", "canary")


@dataclass(frozen=True)
class RunContext:
    run_id: str
    mode: str
    target: Target
    report_dir: Path
    started_at: str
    require_image: bool = False

    @property
    def cache_dir(self) -> Path:
        return cache_dir()
