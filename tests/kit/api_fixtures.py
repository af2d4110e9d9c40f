"""The staff API's fixtures: a real database, a real Redis, the real app.

Shared by tests/api, tests/console and tests/security: their conftests import them from
here (a module, so that no conftest imports another folder's conftest).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.notes.api.app import create_app
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from shared.contracts import StreamNames
from tests.api.seeding import add_role_tokens
from tests.kit.api import make_settings, open_database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite, and PostgreSQL when reachable: for the core read/write paths."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    database = await open_database(sqlite_url)
    yield database
    await database.dispose()


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, names: StreamNames, tmp_path: Path) -> NotesSettings:
    return make_settings(sqlite_url, redis_url, names, tmp_path / "exports")


@pytest.fixture
def app(settings: NotesSettings, db: Database, redis: Any) -> FastAPI:
    return create_app(settings, db, redis, sse_heartbeat_s=0.5, sse_poll_s=0.1)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        yield c


@pytest.fixture
async def tokens(db: Database) -> dict[str, str]:
    """Secrets of tokens named admin, staff, auditor, clin-a (dr-a), clin-b (dr-b)."""
    return await add_role_tokens(db)
