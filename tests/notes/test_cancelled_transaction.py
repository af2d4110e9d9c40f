"""A task cancelled inside a write transaction (a service stopping) leaves no transaction
open: the next writer, on another connection, gets through at once (SQLite: no "database
is locked" after its busy timeout; PostgreSQL: no wait on the row lock) and the cancelled
write is gone. Real databases; the cancelled task stays referenced afterwards, as a
scheduler's job table or a gather result keeps it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event, text

from services.notes.db import engine as engine_mod
from services.notes.db.engine import Database

pytestmark = pytest.mark.timeout(60)

SHORT_BUSY_MS = 1000


@dataclass
class Probe:
    db: Database
    in_statement: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def slow(self) -> int:
        """SQLite's ``slow_probe()``: a statement still running on the connection's thread."""
        self.in_statement.set()
        self.release.wait(10)
        return 1


@pytest.fixture
async def probe(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Probe]:
    monkeypatch.setattr(engine_mod, "SQLITE_BUSY_TIMEOUT_MS", SHORT_BUSY_MS)
    it = Probe(Database(db_url))
    if it.db.dialect == "sqlite":

        @event.listens_for(it.db.engine.sync_engine, "connect")
        def _slow_fn(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.create_function("slow_probe", 0, it.slow)

    async with it.db.session() as s:
        await s.execute(text("CREATE TABLE cancel_probe (id INTEGER PRIMARY KEY, v TEXT)"))
    yield it
    it.release.set()
    await it.db.dispose()


async def _write_after(db: Database) -> float:
    """Write row 1 from a fresh transaction with a short lock wait; seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with db.session() as s:
        if db.dialect == "postgresql":
            await s.execute(text(f"SET LOCAL lock_timeout = '{SHORT_BUSY_MS}ms'"))
        await s.execute(text("INSERT INTO cancel_probe (id, v) VALUES (1, 'after')"))
    return loop.time() - started


@pytest.mark.parametrize("where", ["in_statement", "idle", "idle_cancelled_again"])
async def test_a_cancelled_transaction_is_rolled_back_and_keeps_no_lock(
    probe: Probe, where: str
) -> None:
    db = probe.db
    wrote = asyncio.Event()

    async def job() -> None:
        async with db.session() as s:
            await s.execute(text("INSERT INTO cancel_probe (id, v) VALUES (1, 'cancelled')"))
            await s.flush()
            wrote.set()
            if where != "in_statement":
                await asyncio.Event().wait()
            elif db.dialect == "sqlite":
                await s.execute(text("SELECT slow_probe()"))
            else:
                await s.execute(text("SELECT pg_sleep(0.2)"))

    task = asyncio.create_task(job())
    await asyncio.wait_for(wrote.wait(), 10)
    if where == "in_statement":
        if db.dialect == "sqlite":
            assert await asyncio.to_thread(probe.in_statement.wait, 10)
        else:
            await asyncio.sleep(0.1)
    task.cancel()
    probe.release.set()
    if where == "idle_cancelled_again":
        for _ in range(50):  # cancelled again and again while it rolls back
            await asyncio.sleep(0)
            task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert db.engine.pool.checkedout() == 0  # its connection went back before it ended

    took = await _write_after(db)  # "database is locked" (OperationalError) without the fix

    assert took < SHORT_BUSY_MS / 1000
    async with db.session() as s:
        rows = (await s.execute(text("SELECT id, v FROM cancel_probe"))).all()
    assert [tuple(r) for r in rows] == [(1, "after")]
    assert task.cancelled()  # still referenced: its traceback holds the cancelled statement
