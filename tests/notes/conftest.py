"""Fixtures of the notes tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from shared.gateway import GatewayClient
from simulators.llm_server import LlmSimConfig, LlmSimulator, start_llm_simulator


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


@pytest.fixture
async def llm_sim() -> AsyncIterator[LlmSimulator]:
    async with await start_llm_simulator(LlmSimConfig(seed=1)) as sim:
        yield sim


@pytest.fixture
async def gateway(llm_sim: LlmSimulator) -> AsyncIterator[GatewayClient]:
    client = GatewayClient(
        llm_sim.base_url,
        SecretStr("sim-key"),
        timeout=10.0,
        max_attempts=2,
        backoff_base_s=0.05,
        backoff_max_s=0.1,
    )
    yield client
    await client.aclose()
