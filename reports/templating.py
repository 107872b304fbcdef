"""The jinja2 environment shared by the HTML and Markdown renderers. HTML autoescapes; Markdown escapes by filter."""

from __future__ import annotations

from functools import cache

import jinja2

from deployverify.core.inert import inert


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("deployverify.reports", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = markdown_cell
    return env


def markdown_cell(text: object) -> str:
    """Keep a value on one table row, stop it from opening markup, and show control characters instead of
    sending them (the summary is also printed by CI logs and terminals)."""
    cell = inert(str(text).replace("\n", " "))
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
