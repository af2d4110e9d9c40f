"""Fixtures of the notes tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from services.notes.config import NotesSettings
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from services.notes.metrics import NotesMetrics
from services.notes.service import run
from services.notes.soap import ChatClient
from shared.contracts import (
    EditedTurn,
    EncounterStarted,
    EncounterStopped,
    EncounterTranscribed,
    Message,
    StreamNames,
)
from shared.gateway import GatewayClient
from shared.streams import publish
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


def make_turn(encounter_id: str, seq: int, text: str, speaker: str | None = None) -> EditedTurn:
    return EditedTurn(
        encounter_id=encounter_id,
        seq=seq,
        stt_session_id="sess-1",
        turn_order=seq,
        text=text.lower(),
        start_ms=seq * 4000,
        end_ms=seq * 4000 + 3500,
        speaker=speaker,
        edited_text=text,
        edit_status="edited",
        llm_model="claude-haiku-4-5-20251001",
    )


def visit_messages(
    encounter_id: str,
    texts: list[str],
    *,
    speakers: list[str | None] | None = None,
    llm_model: str = "claude-haiku-4-5-20251001",
    turn_count: int | None = None,
    skip: tuple[int, ...] = (),
) -> tuple[list[Message], list[EditedTurn]]:
    """Control messages and turns of one visit (turn ``skip`` seqs are never sent)."""
    spk = speakers or [None] * len(texts)
    control: list[Message] = [
        EncounterStarted(
            encounter_id=encounter_id,
            room="exam-1",
            llm_model=llm_model,
            clinician="dr-test",
            started_at=datetime(2026, 11, 29, 9, 0, tzinfo=UTC),
        ),
        EncounterStopped(encounter_id=encounter_id, last_frame_seq=100),
        EncounterTranscribed(
            encounter_id=encounter_id,
            turn_count=len(texts) if turn_count is None else turn_count,
            audio_ms=len(texts) * 4000,
        ),
    ]
    turns = [make_turn(encounter_id, i, t, spk[i]) for i, t in enumerate(texts) if i not in skip]
    return control, turns


async def publish_shuffled(
    redis: aioredis.Redis,
    names: StreamNames,
    control: list[Message],
    turns: list[EditedTurn],
    seed: int = 1,
) -> None:
    """Publish in a scrambled order with every turn twice, control events reversed."""
    rng = random.Random(seed)
    doubled = turns + rng.sample(turns, len(turns))
    rng.shuffle(doubled)
    for msg in reversed(control):
        await publish(redis, names.control, msg)
    for turn in doubled:
        await publish(redis, names.edited, turn)


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


def notes_settings(db: Database, names: StreamNames, export_dir: Path, **kw: Any) -> NotesSettings:
    base: dict[str, Any] = {
        "stream_prefix": names.prefix,
        "database_url": db.url,
        "export_dir": export_dir,
        "consumer_name": "notes-test-1",
        "grace_period_s": 30.0,
        "scheduler_poll_s": 0.1,
        "note_retry_initial_s": 0.2,
        "note_retry_max_s": 0.5,
        "note_lease_s": 30.0,
        "timezone": "UTC",
    }
    base.update(kw)
    return NotesSettings(_env_file=None, **base)  # type: ignore[call-arg]


@asynccontextmanager
async def running_notes(
    settings: NotesSettings, db: Database, redis: aioredis.Redis, client: ChatClient
) -> AsyncIterator[NotesMetrics]:
    """The notes service (consumers + scheduler) running in this event loop."""
    metrics = NotesMetrics()
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, db, redis, client, stop, metrics=metrics))
    try:
        yield metrics
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    """Poll ``predicate`` until true; the timeout only bounds a hang."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def encounter_status(db: Database, encounter_id: str) -> str | None:
    async with db.session() as s:
        enc = await repo.get_encounter(s, encounter_id)
    return enc.status if enc else None
