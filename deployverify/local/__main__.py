"""`python -m deployverify.local STATE_FILE FUNCTION_NAME`: one function's event-source process, started detached by
`deployverify local up` (local/functions.py). It only reads its arguments; local/event_source.py does the work."""

from __future__ import annotations

import sys
from pathlib import Path

from deployverify.local.event_source import serve
from deployverify.local.stack_state import load_state

USAGE = "usage: python -m deployverify.local STATE_FILE FUNCTION_NAME"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(USAGE, file=sys.stderr)
        return 2
    state = load_state(Path(argv[1]))
    if state is None or argv[2] not in state.workers:
        print(f"{USAGE}\nno function {argv[2]!r} in the local stack's state {argv[1]}", file=sys.stderr)
        return 2
    serve(state.workers[argv[2]].config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
