"""Streams → database through the real consumer group readers and real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import redis.asyncio as aioredis

from services.notes.config import NotesSettings
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.service import NotesRuntime
from services.notes.status import EncounterStatus
from services.notes.transcript import lines_of
from shared.contracts import StreamNames
from tests.kit.factories import visit_messages
from tests.kit.notes import publish_shuffled
from tests.kit.waiting import eventually


class NoGateway:
    async def chat(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("the assembler must not call the gateway")


async def test_out_of_order_duplicated_entries_assemble_exact_transcript(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    texts = [f"Sentence number {i} of the visit." for i in range(60)]
    speakers = ["A" if i % 2 == 0 else "B" for i in range(60)]
    control, turns = visit_messages("enc-asm", texts, speakers=speakers)
    await publish_shuffled(redis, names, control, turns, seed=3)
    await redis.xadd(names.edited, {"v": "1", "data": "{not json"})  # poison: dead-lettered

    settings = NotesSettings(
        _env_file=None,  # type: ignore[call-arg]
        stream_prefix=names.prefix,
        database_url=db.url,
        export_dir=tmp_path,
        consumer_name="asm-1",
    )
    rt = NotesRuntime(settings, db, redis, NoGateway())
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in rt.readers()]

    async def assembled() -> bool:
        async with db.session() as s:
            enc = await repo.get_encounter(s, "enc-asm")
            n = len(await repo.turn_seqs(s, "enc-asm"))
        return (
            enc is not None
            and enc.started
            and enc.status == EncounterStatus.NOTE_PENDING
            and n == 60
        )

    try:
        await eventually(assembled)
        await eventually(lambda: _dead_count(redis, names, 1))
    finally:
        stop.set()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
    async with db.session() as s:
        enc = await repo.get_encounter(s, "enc-asm")
        stored = await repo.list_turns(s, "enc-asm")
    assert enc is not None
    lines = lines_of(enc, stored, {}, None)
    assert [line.text for line in lines] == texts
    assert [t.seq for t in stored] == list(range(60))
    assert rt.metrics.turns._value.get() >= 60  # type: ignore[attr-defined]
    # everything acknowledged: nothing left pending in the group
    for stream in (names.control, names.edited):
        pending = await redis.xpending(stream, "notes")
        assert pending["pending"] == 0


async def _dead_count(redis: aioredis.Redis, names: StreamNames, n: int) -> bool:
    return int(await redis.xlen(names.dead)) >= n
