"""Alembic migrations up and down on SQLite and PostgreSQL, and no drift from the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from services.notes.db import migrate
from services.notes.db.engine import Database
from services.notes.db.models import Base

TABLES = {
    "encounters",
    "turns",
    "notes",
    "api_tokens",
    "audit_log",
    "console_sessions",
    "room_assignments",
    "note_drafts",
    "after_visit_summaries",
}


async def _tables(url: str) -> set[str]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await db.dispose()
    return names - {"alembic_version"}


async def _drift(url: str) -> list[object]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:

            def diff(c: Connection) -> list[object]:
                ctx = MigrationContext.configure(c, opts={"compare_type": True})
                return list(compare_metadata(ctx, Base.metadata))

            return await conn.run_sync(diff)
    finally:
        await db.dispose()


async def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    state = await migrate.current_state(db_url)
    assert state.current is None
    assert not state.up_to_date
    with pytest.raises(migrate.MigrationNeeded, match="medscribe notes migrate"):
        await migrate.check_current_async(db_url)

    await migrate.upgrade_async(db_url)
    assert await _tables(db_url) == TABLES
    assert (await migrate.check_current_async(db_url)).current == migrate.head_revision()
    assert await _drift(db_url) == []

    await migrate.downgrade_async(db_url, "base")
    assert await _tables(db_url) == set()
    assert (await migrate.current_state(db_url)).current is None

    await migrate.upgrade_async(db_url)  # and back up: downgrade left nothing behind
    assert await _tables(db_url) == TABLES
