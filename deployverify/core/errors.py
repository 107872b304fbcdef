"""Errors meant for users. The CLI prints one line for each and exits 2; none of them shows a traceback."""

from __future__ import annotations

import re


class DeployVerifyError(Exception):
    """Bad input or an unusable environment, described well enough to fix without reading code."""

    exit_code = 2

    def __init__(self, message: str, *, where: str = "") -> None:
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}" if where else message)


class TargetError(DeployVerifyError):
    """The target file (deployverify.yaml) cannot be loaded: `where` is `file:line field.path`."""


class HandlerError(DeployVerifyError):
    """A handler string that Lambda would reject before importing anything."""


class BundleError(DeployVerifyError):
    """A bundle folder that is missing or unreadable."""


class BuildError(DeployVerifyError):
    """The bundle build failed; the message carries the command and the tail of its stderr. `cause` is the one line
    a report quotes: given when the builder knows better (a missing interpreter), else the tail's telling line."""

    def __init__(self, message: str, *, command: str = "", code: int | None = None, tail: str = "",
                 cause: str | None = None) -> None:
        super().__init__(message)
        self.command = command
        self.code = code
        self.tail = tail
        self.cause = cause or telling_line(tail)


# A builder's error line (sam's `Error:`, pip's `ERROR:`) or a Python exception's (`TypeError: ...`), which a crashing
# tool follows with lines that say less (sam: "An unexpected error ... create a bug report: https://github...").
_ERROR_LINE = re.compile(r"\s*(?:(?:Error|ERROR)\b|[A-Za-z_][\w.]*(?:Error|Exception): )")


def telling_line(tail: str) -> str:
    """The line of a build's output that says what failed: the last one led by `Error`/`ERROR` (sam's
    `Error: PythonPipBuilder:...`, pip's `ERROR: No matching distribution...`) or by a Python exception's name,
    which builders often follow with lines that say less (make's `*** [...] Error 1`); else the last line."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return next((line for line in reversed(lines) if _ERROR_LINE.match(line)), lines[-1] if lines else "(no output)")


class SecretError(DeployVerifyError):
    """A secret that cannot be fetched or parsed. Never carries the secret's value."""


class EnvironmentMissing(DeployVerifyError):
    """Something a check needs is not on this machine (Docker engine, image, Postgres, bubblewrap)."""
