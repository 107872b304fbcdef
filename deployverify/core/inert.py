"""Text from the outside world (log lines, evidence, exception messages, file contents) made inert for a terminal,
a Markdown table or an XML file.

A worker's log line can hold terminal escape sequences (colours, but also cursor moves, window titles, OSC 8 links
and `\\r`, which can overwrite the line that said FAIL) and Unicode direction overrides that reorder what a reviewer
reads. HTML is autoescaped by jinja2; everything else that prints such text passes through `inert` first.
"""

from __future__ import annotations

import re

# ESC-initiated sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and the two-byte ESC forms.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# C0 controls except tab and newline, DEL, C1 controls (\x9b is an 8-bit CSI), and bidirectional overrides.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def inert(text: object) -> str:
    """`text` with escape sequences removed and every other control character shown as `\\xNN` / `\\uNNNN`."""
    return _CONTROL.sub(_visible, _ANSI.sub("", str(text)))


def _visible(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
