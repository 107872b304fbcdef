"""report.json: the fixed contract outside tooling reads (schema: deployverify/schemas/report.schema.json)."""

from __future__ import annotations

import json

from deployverify.core.results import RunReport


def render_json(run: RunReport) -> str:
    return json.dumps(run.to_dict(), indent=2, sort_keys=False) + "\n"
