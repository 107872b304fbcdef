"""Headless Chromium, run as a program: the report's HTML as a browser lays it out, and a screenshot of it.

--dump-dom prints the DOM after the page loaded (so what a person sees, not the file's text); --screenshot writes a
PNG. Each call gets a fresh profile folder, and every flag that makes Chromium reach out (updates, first-run pages,
background networking) is off: the report must render with nothing but itself.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

from tests.support.env import require_tool

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


def _chromium() -> str:
    require_tool("chromium", "Chromium (apt-get install chromium; .ci/install-system.sh installs it)")
    found = shutil.which("chromium")
    assert found
    return found


def _run(page: Path, *flags: str) -> str:
    with tempfile.TemporaryDirectory(prefix="dv-chromium-") as profile:
        done = subprocess.run([_chromium(), *FLAGS, f"--user-data-dir={profile}", *flags, page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(page: Path) -> str:
    return _run(page, "--dump-dom")


def screenshot(page: Path, png: Path) -> Path:
    _run(page, f"--screenshot={png.resolve()}", "--window-size=1280,1600")
    return png


class Element:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag, self.attrs, self.text = tag, attrs, ""

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class Elements(HTMLParser):
    """Every element of a DOM dump, in document order, each with the text inside it."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.all: list[Element] = []
        self._open: list[Element] = []
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.all.append(element)
        if tag not in ("meta", "br", "img", "input", "link", "line", "rect", "hr"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for n in range(len(self._open) - 1, -1, -1):
            if self._open[n].tag == tag:
                del self._open[n:]
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def select(self, tag: str, css_class: str) -> list[Element]:
        return [e for e in self.all if e.tag == tag and css_class in e.classes]
