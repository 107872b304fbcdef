"""The local stack's database: the server the target names (`local.database_url`), or an embedded one.

The embedded server uses the PostgreSQL binaries the `pgserver` package ships (no system install needed) but is run
here, not through pgserver's own wrapper: the worker reaches its database the way it does in AWS, over TCP with the
user name and password from the secret, and pgserver's wrapper only listens on a Unix socket with `trust`. So:
initdb with scram-sha-256 for TCP, postgres listening on 127.0.0.1:<free port>, a role and database named as the
template's parameters say (DatabaseUser, DatabaseName), the schema applied as that role.

As root, PostgreSQL refuses to run, so the server runs as the `pgserver` system user (created if missing, as
pgserver itself does) with its data under the system temp folder, which that user can reach.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import psycopg2
from psycopg2 import sql

from deployverify.core import redact
from deployverify.core.errors import DeployVerifyError, EnvironmentMissing
from deployverify.local import procs

START_TIMEOUT_S = 60
COMMAND_TIMEOUT_S = 120
SYSTEM_USER_AS_ROOT = "pgserver"


@dataclass(frozen=True)
class Connection:
    """How the worker connects; it becomes the database secret's host, port, username, password and database."""

    host: str
    port: int
    username: str
    password: str
    database: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.username}:{self.password}@{self.host}:{self.port}/{self.database}"

    def connect(self, timeout_s: int = 5) -> Any:
        return psycopg2.connect(host=self.host, port=self.port, user=self.username, password=self.password,
                                dbname=self.database, connect_timeout=timeout_s)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "username": self.username, "password": self.password,
                "database": self.database}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Connection:
        return cls(str(raw["host"]), int(raw["port"]), str(raw["username"]), str(raw["password"]),
                   str(raw["database"]))


@dataclass(frozen=True)
class Embedded:
    data_dir: Path
    port: int
    system_user: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"data_dir": str(self.data_dir), "port": self.port, "system_user": self.system_user}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Embedded | None:
        return None if not raw else cls(Path(raw["data_dir"]), int(raw["port"]), raw.get("system_user"))


def from_url(database_url: str) -> Connection:
    parsed = urlparse(database_url)
    if parsed.scheme not in ("postgres", "postgresql") or not parsed.hostname or not parsed.path.strip("/"):
        raise DeployVerifyError("expected postgresql://user:password@host:port/database",
                                where="local.database_url")
    conn = Connection(parsed.hostname, parsed.port or 5432, unquote(parsed.username or ""),
                      unquote(parsed.password or ""), parsed.path.strip("/"))
    redact.register(conn.password)
    return conn


def apply_sql(conn: Connection, script: Path) -> None:
    """Run a whole SQL file (the target's schema) in one transaction."""
    try:
        with conn.connect() as db, db.cursor() as cur:
            cur.execute(script.read_text(encoding="utf-8"))
    except psycopg2.Error as exc:
        detail = (exc.pgerror or str(exc)).strip().splitlines()[0]
        raise DeployVerifyError(f"applying it to {conn.host}:{conn.port}/{conn.database} failed: {detail}",
                                where=str(script)) from None


def check_reachable(conn: Connection) -> None:
    try:
        conn.connect().close()
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EnvironmentMissing(f"cannot connect to {conn.host}:{conn.port}/{conn.database}: {reason}; start it, "
                                 "or leave local.database_url empty for an embedded server",
                                 where="local.database_url") from None


# --- embedded server -------------------------------------------------------------------------------------------


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError:
        raise EnvironmentMissing("no database: set local.database_url, or pip install 'deployverify[local]' for the "
                                 "embedded server (pgserver)") from None
    return Path(POSTGRES_BIN_PATH)


def _run(argv: list[str], user: str | None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, user=user, capture_output=True, text=True, check=True,
                              timeout=COMMAND_TIMEOUT_S, **kwargs)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip()[-600:]
        raise EnvironmentMissing(f"`{Path(argv[0]).name} {' '.join(argv[1:3])}` failed ({exc.returncode}): {tail}",
                                 where="embedded postgres") from None
    except subprocess.TimeoutExpired:
        raise EnvironmentMissing(f"`{Path(argv[0]).name}` did not finish in {COMMAND_TIMEOUT_S}s",
                                 where="embedded postgres") from None


def _prepare_root(bin_dir: Path) -> str | None:
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pgserver's import warns about XDG_RUNTIME_DIR, which is not used here
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER_AS_ROOT)
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, 0o055)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
    ensure_folder_permissions(bin_dir.parent / "share", 0o044)
    return SYSTEM_USER_AS_ROOT


def embedded_data_dir(state_dir: Path, stack_id: str) -> Path:
    if os.geteuid() == 0:
        # The pgserver user cannot traverse root's 0700 home; the temp folder is world-traversable.
        return Path(tempfile.gettempdir()) / f"deployverify-local-{stack_id}" / "pgdata"
    return state_dir / "pgdata"


def start_embedded(data_dir: Path, *, username: str, database: str, port: int | None = None,
                   password: str | None = None) -> tuple[Embedded, Connection]:
    bin_dir = _bin_dir()
    user = _prepare_root(bin_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(data_dir.parent, entry.pw_uid, entry.pw_gid)
    port = port or procs.free_port()
    password = password or secrets.token_urlsafe(24)
    redact.register(password)
    if not (data_dir / "PG_VERSION").exists():
        shutil.rmtree(data_dir, ignore_errors=True)
        with tempfile.NamedTemporaryFile("w", delete=False, dir=data_dir.parent, prefix="pw") as pwfile:
            pwfile.write(secrets.token_urlsafe(24))  # the superuser's; only the local socket (trust) uses it
        os.chmod(pwfile.name, 0o644)
        try:
            _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "--encoding=UTF8",
                  "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile.name}", "--no-instructions"],
                 user)
        finally:
            os.unlink(pwfile.name)
    embedded = Embedded(data_dir, port, user)
    if not running(embedded):
        _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-w", "-t", str(START_TIMEOUT_S),
              "-l", str(data_dir / "server.log"),
              "-o", f"-h 127.0.0.1 -p {port} -k {data_dir} -c max_connections=50", "start"],
             user, start_new_session=True)
    admin = psycopg2.connect(host=str(data_dir), port=port, user="postgres", dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(username)), (password,))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if not cur.fetchone():
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database),
                                                                         sql.Identifier(username)))
    finally:
        admin.close()
    return embedded, Connection("127.0.0.1", port, username, password, database)


def running(embedded: Embedded) -> bool:
    pid_file = embedded.data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return False
    return procs.alive(procs.ProcessRef(pid, 0.0))


def stop_embedded(embedded: Embedded | None, *, remove: bool = True) -> bool:
    """Stop the server (fast shutdown, then SIGKILL of the postmaster) and delete its data. True when it is gone."""
    if embedded is None:
        return True
    if running(embedded):
        with contextlib.suppress(subprocess.TimeoutExpired, EnvironmentMissing):
            subprocess.run([str(_bin_dir() / "pg_ctl"), "-D", str(embedded.data_dir), "-m", "fast", "-w", "-t", "20",
                            "stop"], user=embedded.system_user, capture_output=True, timeout=30, check=False)
        if running(embedded):
            pid = int((embedded.data_dir / "postmaster.pid").read_text().splitlines()[0])
            procs.stop(procs.ProcessRef(pid, 0.0), grace_s=2)
    gone = not running(embedded)
    if remove and gone:
        shutil.rmtree(embedded.data_dir.parent if embedded.data_dir.parent.name.startswith("deployverify-local-")
                      else embedded.data_dir, ignore_errors=True)
    return gone
