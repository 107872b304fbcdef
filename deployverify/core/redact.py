"""Every string that leaves the process (terminal, reports, logs, exceptions) passes through `redact`.

Secret values are registered the moment they are read; redaction replaces them wherever they appear, including inside
larger strings such as DSNs and tracebacks.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "***"
_MIN_LENGTH = 4  # shorter values (ports, "1") would mask unrelated text and protect nothing
_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None

# Keys whose values are secret even before anyone registers them (DSNs, env dumps).
SECRET_KEY_PATTERN = re.compile(r"(pass(word)?|secret|token|credential|api[_-]?key|private[_-]?key)", re.IGNORECASE)
_DSN_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?P<tail>@)", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)(?P<pw>'[^']*'|\S+)", re.IGNORECASE)


def register(*values: object) -> None:
    global _pattern
    added = False
    with _lock:
        for value in values:
            text = str(value) if value is not None else ""
            if len(text) >= _MIN_LENGTH and text not in _values:
                _values.add(text)
                added = True
        if added:
            ordered = sorted(_values, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(v) for v in ordered))


# Keys of a secret whose values name things rather than guard them. Masking them would blank out every report line
# that mentions the database or the worker (a user named `docworker` would hide the target's name); every other key,
# known or not, is treated as secret.
IDENTIFIER_KEYS = frozenset({"host", "hostname", "port", "username", "user", "dbname", "database", "db_name",
                             "engine", "sslmode", "dbclusteridentifier", "dbinstanceidentifier", "region"})


def register_mapping(data: Mapping[str, Any]) -> None:
    """Register the secret values of a secret: every scalar except identifiers such as host, port and user name,
    and the password inside any value that is a DSN (a DSN pasted into `host` is still a password)."""
    register(*(v for k, v in data.items() if isinstance(v, str | int | float) and not isinstance(v, bool)
               and (k.lower() not in IDENTIFIER_KEYS or SECRET_KEY_PATTERN.search(k))))
    register(*(pw for v in data.values() if isinstance(v, str) for pw in dsn_passwords(v)))


def dsn_passwords(text: str) -> list[str]:
    """The passwords a connection string carries, read the way a driver reads them: the userinfo of every URL in
    the text (`scheme://user:password@host`) and the `password=` keyword of a libpq key/value string."""
    found: list[str] = []
    for word in text.split():
        if "://" in word:
            with contextlib.suppress(ValueError):
                password = urlsplit(word[_scheme_start(word):]).password
                if password:
                    found += [password, unquote(password)]
        elif word.lower().startswith(("password=", "passwd=", "pwd=")):
            found.append(word.split("=", 1)[1].strip("'\""))
    return found


def _scheme_start(word: str) -> int:
    """Where the URL's scheme begins in a word such as `url="postgresql://...`."""
    at = word.index("://")
    start = at
    while start > 0 and (word[start - 1].isalnum() or word[start - 1] in "+.-"):
        start -= 1
    return start


def register_environment(environ: Mapping[str, str]) -> None:
    """The process environment's secrets: variables whose names say they are secret (DB_PASSWORD, API_TOKEN) and
    the passwords of DSNs held in any variable (DATABASE_URL). Registered when a run starts, so nothing that echoes
    the environment (a crash dump, a probe's output) can carry them out."""
    register(*(v for k, v in environ.items()
               if SECRET_KEY_PATTERN.search(k) and not k.startswith("DV_") and _could_be_secret(v)))
    # DV_* are the harness's own settings (DV_TEST_DATABASE_URL names the test server, whose password would then
    # mask the word "deployverify" in every report).
    register(*(pw for k, v in environ.items() if not k.startswith("DV_") for pw in dsn_passwords(v)))


_ENV_MIN_LENGTH = 8


def _could_be_secret(value: str) -> bool:
    """A name can say "token" of a setting that is not one (TOKENIZERS_PARALLELISM=false, GIT_ASKPASS=/usr/bin/x,
    AWS_CONTAINER_CREDENTIALS_FULL_URI=http://...): short values, paths and URLs would mask ordinary report text
    (a masked `false` would even break report.json). A URL's password is still registered, by `dsn_passwords`."""
    return len(value) >= _ENV_MIN_LENGTH and not value.startswith(("/", "~", ".")) and "://" not in value


def redact(text: str) -> str:
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _DSN_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", text)
    return _KV_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)


def redact_all(lines: Iterable[str]) -> list[str]:
    return [redact(line) for line in lines]


@contextmanager
def registrations_undone() -> Iterator[None]:
    """Values registered inside the block are forgotten after it. Only for code that parses thousands of throwaway
    secrets in one process (the input fuzzer): every registration recompiles the pattern, so they would pile up."""
    global _pattern
    with _lock:
        saved = (set(_values), _pattern)
    try:
        yield
    finally:
        with _lock:
            _values.clear()
            _values.update(saved[0])
            _pattern = saved[1]


def known_values() -> frozenset[str]:
    with _lock:
        return frozenset(_values)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def install_logging_filter() -> None:
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
