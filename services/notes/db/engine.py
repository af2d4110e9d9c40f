"""The database handle: one async engine, sessions, SQLite pragmas.

SQLite (the single-machine default) runs in WAL mode with foreign keys on and a busy
timeout, and every transaction starts with ``BEGIN IMMEDIATE``: two notes replicas on one
file then queue for the write lock instead of failing with "database is locked" when a
read transaction tries to become a write transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from services.notes.db.models import Base
from shared.errors import MedscribeError
from shared.private_files import private_dir, private_file

SQLITE_BUSY_TIMEOUT_MS = 15_000


class DatabaseUrlError(MedscribeError, ValueError):
    """The configured database URL cannot be used (the message never shows a password)."""


def is_transient_db_error(err: BaseException) -> bool:
    """A failure of the database rather than of the data: the connection dropped (restart,
    failover, pg_terminate_backend), the pool ran dry, or SQLite is locked. Retrying the
    same write later succeeds; an integrity or data error would not."""
    if isinstance(err, sa_exc.DBAPIError):
        # PostgreSQL classes: 08 connection, 40 serialization/deadlock, 53 resources,
        # 57 operator intervention (shutdown, terminated backend).
        sqlstate = str(getattr(err.orig, "sqlstate", "") or "")
        return (
            err.connection_invalidated
            or isinstance(err, (sa_exc.OperationalError, sa_exc.InterfaceError))
            or sqlstate[:2] in ("08", "40", "53", "57")
        )
    return isinstance(err, (sa_exc.DisconnectionError, sa_exc.TimeoutError, TimeoutError, OSError))


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def check_url(url: str) -> str:
    """Reject URLs with a sync driver or an unsupported database, with a clear message."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - sqlalchemy raises ArgumentError with the URL in it
        raise DatabaseUrlError("DATABASE_URL is not a valid SQLAlchemy URL") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    allowed = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
    if backend not in allowed:
        raise DatabaseUrlError(
            f"DATABASE_URL: database {backend!r} is not supported (SQLite or PostgreSQL)"
        )
    if driver != allowed[backend]:
        raise DatabaseUrlError(
            f"DATABASE_URL must use the async driver: {backend}+{allowed[backend]}://…"
        )
    return url


def private_sqlite(path: Path) -> None:
    """The database file (full transcripts) owner-only before SQLite opens it.

    SQLite gives its -wal and -shm files the mode of the database file, so creating the
    file 0600 first covers all three; existing ones are tightened too. A folder that
    already exists is left as it is (it may be a shared one); a new one is 0700.
    """
    private_dir(path.parent, tighten=False)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            private_file(side)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook issue BEGIN itself (pysqlite's own is deferred).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_on_invalidate(dbapi_conn: Any, _record: Any, _exc: BaseException | None) -> None:
    """Roll back before SQLAlchemy closes an invalidated SQLite connection.

    A statement interrupted by a cancellation (any BaseException) makes SQLAlchemy invalidate
    its connection: close it without a rollback. Closing does not end the transaction while
    a statement of the connection is still alive (sqlite3_close_v2 leaves a "zombie"), and
    the interrupted statement's cursor lives on in the cancellation's traceback (kept by
    the cancelled task, a log record, a gather result) until the garbage collector frees
    it: the write lock of BEGIN IMMEDIATE stayed, and every other connection waited out
    its busy timeout ("database is locked"). The ROLLBACK runs on the connection's thread
    before the close queued after it, so the lock goes with the transaction.
    """
    try:
        dbapi_conn.rollback()
    except asyncio.CancelledError:
        pass  # cancelled again while waiting: the ROLLBACK is queued ahead of the close
    except Exception:  # noqa: BLE001, S110 - a connection really gone holds no lock (and
        pass  # outside a greenlet, when the garbage collector closes one, it cannot wait)


async def _to_completion(cleanup: Awaitable[None]) -> None:
    """Await ``cleanup`` in a task of its own until it ends, even when the caller is
    cancelled meanwhile; a cancellation received while waiting is raised afterwards."""
    task = asyncio.ensure_future(cleanup)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as err:
            if task.done():
                raise
            cancelled = err
    if cancelled is not None:
        raise cancelled
    task.result()


async def _discard(session: AsyncSession) -> None:
    """Roll back and hand the connection back; the error that got here is the one raised."""
    try:
        await session.rollback()
    except Exception:  # noqa: BLE001, S110 - e.g. the connection dropped: nothing to undo
        pass
    finally:
        await session.close()


class Database:
    """Owns the engine; ``session()`` yields an AsyncSession committed on success."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = check_url(url)
        path = sqlite_path(url)
        if path is not None:
            private_sqlite(path)
        self.dialect = make_url(url).get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "postgresql":
            kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_on_begin)
            event.listen(self.engine.sync_engine.pool, "invalidate", _sqlite_on_invalidate)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back on an exception.

        Also when the block is cancelled (a service stopping): the rollback and the return
        of the connection run to their end, shielded, before the cancellation goes on, so
        no transaction stays open on a connection (on SQLite it would keep the write lock).
        """
        session = self.sessions()
        try:
            yield session
            await session.commit()
        except BaseException:
            await _to_completion(_discard(session))
            raise
        await _to_completion(session.close())

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def create_all(self) -> None:
        """Create the tables directly. Tests only: real databases go through Alembic."""
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def dispose(self) -> None:
        await self.engine.dispose()
