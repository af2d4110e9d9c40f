"""Fixtures of the notes tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL, once per backend (PostgreSQL skips when not running)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A database migrated to head through Alembic (as `medscribe notes migrate` does)."""
    await upgrade_async(db_url)
    database = Database(db_url)
    yield database
    await database.dispose()
