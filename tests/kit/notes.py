"""The notes service in a test: its settings, running it in the test's loop, feeding it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from services.notes.config import NotesSettings
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.metrics import NotesMetrics
from services.notes.service import run
from services.notes.soap import ChatClient
from shared.contracts import EditedTurn, Message, StreamNames
from shared.streams import publish


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
    return NotesSettings(_env_file=None, **base)


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


async def encounter_status(db: Database, encounter_id: str) -> str | None:
    async with db.session() as s:
        enc = await repo.get_encounter(s, encounter_id)
    return enc.status if enc else None
