"""The note scheduler reacts to an encounter becoming complete instead of its poll."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from services.notes.assembler import Assembler
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.metrics import NotesMetrics
from services.notes.status import EncounterStatus
from shared.contracts import StreamNames
from shared.gateway import GatewayClient
from shared.streams import Delivery, publish
from tests.kit.factories import visit_messages
from tests.kit.notes import encounter_status, notes_settings, running_notes
from tests.kit.waiting import eventually


def _delivery(message: Any) -> Delivery[Any]:
    return Delivery(stream="s", entry_id="1-0", message=message, deliveries=1)


async def test_due_is_signalled_by_the_turn_count_and_the_last_turn(db: Database) -> None:
    wake, due = asyncio.Event(), asyncio.Event()
    asm = Assembler(db, NotesMetrics(), wake, due)
    (started, stopped, transcribed), turns = visit_messages("wk-1", ["One.", "Two.", "Three."])
    for msg in (started, stopped):
        await asm.on_control(_delivery(msg))
    assert not due.is_set()
    await asm.on_turn(_delivery(turns[0]))  # still recording: a turn only wakes
    assert wake.is_set()
    assert not due.is_set()
    await asm.on_control(_delivery(transcribed))  # the count is known: look now
    assert due.is_set()
    due.clear()
    wake.clear()
    await asm.on_turn(_delivery(turns[2]))
    assert wake.is_set()
    assert not due.is_set()  # seq 1 still missing
    await asm.on_turn(_delivery(turns[1]))  # the last one it waited for
    assert due.is_set()


async def test_note_is_written_when_the_last_turn_arrives_not_at_the_poll(
    db: Database,
    redis: aioredis.Redis,
    names: StreamNames,
    tmp_path: Path,
    gateway: GatewayClient,
) -> None:
    texts = [f"Sentence number {i} about the knee pain." for i in range(6)]
    control, turns = visit_messages("wk-2", texts)
    # a poll far beyond the test's patience: only the wakeup can write this note in time
    settings = notes_settings(db, names, tmp_path, scheduler_poll_s=300.0)
    async with running_notes(settings, db, redis, gateway):
        for msg in control:
            await publish(redis, names.control, msg)
        for turn in turns[:-1]:
            await publish(redis, names.edited, turn)

        async def waiting() -> bool:
            async with db.session() as s:
                return len(await repo.turn_seqs(s, "wk-2")) == len(texts) - 1

        await eventually(waiting, timeout=60)
        await asyncio.sleep(0.5)  # the scheduler has looked and gone back to waiting
        assert await encounter_status(db, "wk-2") != EncounterStatus.READY
        await publish(redis, names.edited, turns[-1])

        async def ready() -> bool:
            return await encounter_status(db, "wk-2") == EncounterStatus.READY

        await eventually(ready, timeout=60)
