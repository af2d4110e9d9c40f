"""Backup and restore of the clinical record (`medscribe notes backup|restore`).

SQLite: SQLite's online backup API (a consistent copy while the service runs).
PostgreSQL: `pg_dump -Fc` / `pg_restore --clean --if-exists --single-transaction`, with the
connection's password handed over in the environment (PGPASSWORD), never on a command line
where `ps` shows it. Backup files are created owner-only (0600): they hold every transcript.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from shared.errors import MedscribeError


class BackupError(MedscribeError):
    """A backup or restore that cannot be done; the message names no patient data.

    ``tool_output`` is the failing pg_dump/pg_restore's last stderr line, for the operator's
    terminal only: PostgreSQL's messages can quote row values (a COPY error's CONTEXT
    line), so it is kept out of the message, which may be logged."""

    def __init__(self, message: str, tool_output: str = "") -> None:
        super().__init__(message)
        self.tool_output = tool_output

    def for_operator(self) -> str:
        """The message, with the tool's own last line when there is one."""
        return f"{self}: {self.tool_output}" if self.tool_output else str(self)


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    bytes: int
    kind: str  # "sqlite" or "postgresql"


def _url(database_url: str) -> URL:
    try:
        return make_url(database_url)
    except Exception as err:  # noqa: BLE001 - sqlalchemy raises several types
        raise BackupError(f"not a database URL ({type(err).__name__})") from None


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _create_private(path: Path, overwrite: bool) -> int:
    """Open ``path`` for writing, owner-only, refusing to replace a file unless told to."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise BackupError(f"{path} exists; choose another name or pass --overwrite") from None
    except OSError as err:
        raise BackupError(f"cannot write {path} ({err.strerror})") from None
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode otherwise
    return fd


def _sqlite_copy(src: Path, dst: Path) -> None:
    """Copy every page of one SQLite database into another with SQLite's online backup,
    which is consistent even while the source is being written."""
    with (
        contextlib.closing(sqlite3.connect(src)) as source,
        contextlib.closing(sqlite3.connect(dst)) as target,
    ):
        source.backup(target)


def _pg_env(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in (
        ("PGHOST", url.host),
        ("PGPORT", str(url.port) if url.port else None),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value:
            env[key] = str(value)
    return env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client (Debian: postgresql-client) or run"
            " the command inside the postgres container"
        )
    return found


def _run(argv: list[str], env: dict[str, str], stdout: int | None = None) -> None:
    proc = subprocess.run(argv, env=env, stdout=stdout, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        last = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise BackupError(f"{Path(argv[0]).name} failed (exit {proc.returncode})", last[0])


def backup(database_url: str, out: Path, *, overwrite: bool = False) -> BackupInfo:
    """Write a complete, consistent copy of the database to ``out`` (0600)."""
    url = _url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        src_path = _sqlite_path(url)
        if not src_path.exists():
            raise BackupError(f"no database at {src_path}")
        os.close(_create_private(out, overwrite))
        _sqlite_copy(src_path, out)
        return BackupInfo(out, out.stat().st_size, "sqlite")
    if backend == "postgresql":
        pg_dump = _tool("pg_dump")
        fd = _create_private(out, overwrite)
        try:
            _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges"], _pg_env(url), fd)
        except BackupError:
            os.close(fd)
            out.unlink(missing_ok=True)
            raise
        os.close(fd)
        return BackupInfo(out, out.stat().st_size, "postgresql")
    raise BackupError(f"backups of {backend} databases are not supported")


def restore(database_url: str, src: Path) -> None:
    """Replace the database's contents with the backup ``src``. Stop the notes service first."""
    if not src.is_file():
        raise BackupError(f"no backup file at {src}")
    url = _url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        with contextlib.closing(sqlite3.connect(src)) as check:
            try:
                check.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError:
                raise BackupError(f"{src} is not an SQLite backup") from None
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.close(_create_private(target, overwrite=False))
        _sqlite_copy(src, target)
        return
    if backend == "postgresql":
        pg_restore = _tool("pg_restore")
        env = _pg_env(url)
        _run([pg_restore, "--list", str(src)], env, subprocess.DEVNULL)  # a valid archive?
        _run(
            [
                pg_restore,
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--no-owner",
                "--no-privileges",
                f"--dbname={url.database}",
                str(src),
            ],
            env,
            subprocess.DEVNULL,
        )
        return
    raise BackupError(f"restores into {backend} databases are not supported")
