"""Errors meant for users. The CLI prints one line for each and exits 2; none of them shows a traceback."""

from __future__ import annotations


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
    """The bundle build failed; the message carries the command and the tail of its stderr."""

    def __init__(self, message: str, *, command: str = "", code: int | None = None, tail: str = "") -> None:
        super().__init__(message)
        self.command = command
        self.code = code
        self.tail = tail


class SecretError(DeployVerifyError):
    """A secret that cannot be fetched or parsed. Never carries the secret's value."""


class EnvironmentMissing(DeployVerifyError):
    """Something a check needs is not on this machine (Docker engine, image, Postgres, bubblewrap)."""
