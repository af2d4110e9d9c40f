"""Which database failures the notes consumers retry in place (real PostgreSQL and
SQLite): a dropped connection or a locked file is the store's fault and passes; a broken
row is the entry's fault and does not."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text

from services.notes.db import engine as engine_mod
from services.notes.db.engine import Database, is_transient_db_error
from services.notes.db.migrate import upgrade_async

pytestmark = pytest.mark.timeout(60)


async def test_terminated_postgres_backend_is_transient_and_the_pool_recovers(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)

    async def cut_mid_transaction() -> None:  # as a stream handler sees it
        async with db.session() as s:
            pid = await s.scalar(text("SELECT pg_backend_pid()"))
            admin = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
            try:
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
            await s.execute(text("SELECT 1"))

    with pytest.raises(Exception) as caught:  # noqa: PT011 - which class is the question
        await cut_mid_transaction()
    err = caught.value
    try:
        assert is_transient_db_error(err), type(err)
        async with db.session() as s:  # the next transaction gets a fresh connection
            assert await s.scalar(text("SELECT 1")) == 1
    finally:
        await db.dispose()


async def test_integrity_error_is_not_transient(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}")
    insert = text("INSERT INTO probe (id) VALUES (1)")
    try:
        async with db.session() as s:
            await s.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY)"))
            await s.execute(insert)
        with pytest.raises(Exception) as caught:
            async with db.session() as s:
                await s.execute(insert)
        assert not is_transient_db_error(caught.value), type(caught.value)
    finally:
        await db.dispose()


async def test_locked_sqlite_is_transient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notes.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    monkeypatch.setattr(engine_mod, "SQLITE_BUSY_TIMEOUT_MS", 50)
    db = Database(url)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(Exception) as caught:
            async with db.session() as s:
                await s.execute(text("SELECT 1"))
        assert "locked" in str(caught.value)
        assert is_transient_db_error(caught.value), type(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await db.dispose()


def test_plain_programming_errors_are_not_transient() -> None:
    assert not is_transient_db_error(ValueError("bad"))
    assert not is_transient_db_error(KeyError("x"))
    assert is_transient_db_error(ConnectionResetError())
