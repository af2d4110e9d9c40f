"""The release job on SQLite and PostgreSQL with a real Redis: a durable visit's audio and
every per-encounter key leave Redis; a visit still needing its audio keeps it; an
interrupted release leaves the visit due and the next pass finishes it."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from services.notes.config import NotesSettings
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.models import Encounter
from services.notes.metrics import NotesMetrics
from services.notes.release import RedisReleaser, audio_kept_until
from shared.contracts import (
    EncounterFailed,
    EncounterStarted,
    EncounterStopped,
    EncounterTranscribed,
    StreamNames,
)
from shared.prompts import EDIT_PROMPT_VERSION
from tests.kit.notes import notes_settings
from tests.notes.test_notes_cli import notes as notes_cli

T0 = datetime.now(UTC) - timedelta(hours=1)


async def seed_keys(redis: aioredis.Redis, names: StreamNames, eid: str, turns: int = 3) -> None:
    """What the capture agent, bridge and editor leave in Redis for one visit."""
    for seq in range(20):
        await redis.xadd(names.audio(eid), {"seq": str(seq), "pcm": b"\x00\x01" * 800})
    await redis.xadd(names.partials(eid), {"v": "1", "data": "{}"})
    await redis.hset(names.bridge_state(eid), mapping={"status": "done", "next_seq": turns})
    await redis.rpush(names.bridge_sessions(eid), "{}")
    await redis.set(names.bridge_lease(eid), "owner")
    await redis.sadd(names.bridge_active, eid)
    await redis.set(names.bridge_dead_mark(eid, "1733043600000-0"), "1")
    for seq in range(turns):
        await redis.set(names.editor_published(eid, seq), "1-0")
        await redis.set(names.editor_result(EDIT_PROMPT_VERSION, eid, seq), "{}")
    await redis.hset(names.editor_context(eid), "0", "x")
    await redis.set(names.editor_encounter(eid), "{}")


async def keys_of(redis: aioredis.Redis, names: StreamNames, eid: str) -> set[str]:
    """Every key this visit owns (exact names plus its marks)."""
    found = set()
    for key in names.encounter_keys(eid):
        if await redis.exists(key):
            found.add(key)
    e = re.escape(eid)
    marks = re.compile(
        rf"editor:published:{e}:\d+|editor:result:{EDIT_PROMPT_VERSION}:{e}:\d+"
        rf"|bridge:dead:{e}:\d+-\d+"
    )
    async for raw in redis.scan_iter(match=f"{names.prefix}*", count=1000):
        key = raw.decode()
        if marks.fullmatch(key[len(names.prefix) :]):
            found.add(key)
    if await redis.sismember(names.bridge_active, eid):
        found.add(f"{names.bridge_active} member")
    return found


async def visit(
    db: Database,
    eid: str,
    *,
    stopped: bool = True,
    transcribed: bool = False,
    failed: bool = False,
    note: bool = False,
) -> None:
    async with db.session() as s:
        await repo.upsert_encounter_started(
            s,
            EncounterStarted(
                encounter_id=eid,
                room="exam-1",
                llm_model="claude-haiku-4-5-20251001",
                started_at=T0,
            ),
        )
        if stopped:
            await repo.mark_stopped(s, EncounterStopped(encounter_id=eid, last_frame_seq=19))
        if transcribed:
            await repo.mark_transcribed(
                s, EncounterTranscribed(encounter_id=eid, turn_count=3, audio_ms=1000)
            )
        if failed:
            await repo.mark_failed(
                s, EncounterFailed(encounter_id=eid, stage="stt", reason="stt_auth_failed")
            )
    if note:  # what the scheduler sets with the stored note
        async with db.session() as s:
            enc = await s.get(Encounter, eid)
            assert enc is not None
            enc.note_at = datetime.now(UTC) - timedelta(minutes=5)
            enc.status = "ready"


def settings_for(db: Database, names: StreamNames, tmp_path: Path) -> NotesSettings:
    return notes_settings(
        db, names, tmp_path / "exports", redis_release_delay_s=60, failed_audio_max_age_h=2
    )


async def released_at(db: Database, eid: str) -> datetime | None:
    async with db.session() as s:
        enc = await repo.get_encounter(s, eid)
    assert enc is not None
    return enc.redis_released_at


async def test_durable_visit_released_others_keep_their_audio(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    settings = settings_for(db, names, tmp_path)
    # "done" is complete and durable; the rest still need their audio. "done:2" shares the
    # prefix of "done" (ids may hold ":"): its marks must not be taken for done's.
    cases = {
        "done": {"transcribed": True, "note": True},
        "done:2": {"transcribed": True},
        "timed-out": {"note": True},  # note written before the bridge finished
        "failed": {"failed": True},
        "recording": {"stopped": False},
    }
    for eid, kw in cases.items():
        await visit(db, eid, **kw)
        await seed_keys(redis, names, eid)
    before = {eid: await keys_of(redis, names, eid) for eid in cases}
    assert all(len(k) == 15 for k in before.values()), before

    releaser = RedisReleaser(settings, db, redis, NotesMetrics())
    assert await releaser.release_due() == 1
    assert await keys_of(redis, names, "done") == set()
    assert await released_at(db, "done") is not None
    for eid in ("done:2", "timed-out", "failed", "recording"):
        assert await keys_of(redis, names, eid) == before[eid], eid
        assert await released_at(db, eid) is None
    assert await releaser.release_due() == 0  # idempotent: nothing more is due

    # The failed visit is held for a replay and says so until when.
    async with db.session() as s:
        failed = await repo.get_encounter(s, "failed")
        assert failed is not None
        kept = audio_kept_until(failed, settings)
    assert kept is not None
    assert failed.stopped_at is not None
    assert kept == failed.stopped_at + timedelta(hours=2)

    # Past the maximum age the failed visit's audio goes; the others are not abandoned.
    later = datetime.now(UTC) + timedelta(hours=2, minutes=1)
    assert await releaser.release_due(now=later) == 1
    assert await keys_of(redis, names, "failed") == set()
    assert await keys_of(redis, names, "recording") == before["recording"]
    # A visit that never finishes nor fails is abandoned after a day: nothing stays forever.
    much_later = datetime.now(UTC) + timedelta(hours=48)
    assert await releaser.release_due(now=much_later) == 3
    for eid in cases:
        assert await keys_of(redis, names, eid) == set(), eid


async def test_failed_after_transcription_is_released_without_waiting(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    """Every turn stored, then the note stage failed: the audio is not needed any more."""
    settings = notes_settings(db, names, tmp_path / "exports", redis_release_delay_s=0)
    await visit(db, "late-fail", transcribed=True)
    async with db.session() as s:
        enc = await s.get(Encounter, "late-fail")
        assert enc is not None
        enc.status = "failed"
    await seed_keys(redis, names, "late-fail")
    assert await RedisReleaser(settings, db, redis, NotesMetrics()).release_due() == 1
    assert await keys_of(redis, names, "late-fail") == set()


class Killed(Exception):
    """Stands for the process dying between the two release steps."""


async def test_release_interrupted_between_steps_is_finished_by_the_next_pass(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    settings = settings_for(db, names, tmp_path)
    await visit(db, "crash", transcribed=True, note=True)
    await visit(db, "needed")  # stopped, not yet transcribed: its frames are still needed
    for eid in ("crash", "needed"):
        await seed_keys(redis, names, eid)
    needed_before = await keys_of(redis, names, "needed")
    audio_before = await redis.xlen(names.audio("needed"))

    async def die(_step: str, _eid: str) -> None:
        raise Killed

    with pytest.raises(Killed):
        await RedisReleaser(settings, db, redis, NotesMetrics(), between_steps=die).release_due()
    # Half done: not marked released, so still due; the audio is still there.
    assert await released_at(db, "crash") is None
    assert await redis.exists(names.audio("crash"))

    # "Restart": a fresh releaser finishes the job and marks it.
    assert await RedisReleaser(settings, db, redis, NotesMetrics()).release_due() == 1
    assert await keys_of(redis, names, "crash") == set()
    assert await released_at(db, "crash") is not None
    assert await keys_of(redis, names, "needed") == needed_before
    assert await redis.xlen(names.audio("needed")) == audio_before


async def test_orphaned_audio_without_a_database_row_is_swept_when_idle(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    settings = settings_for(db, names, tmp_path)
    await visit(db, "known")  # in flight: the database decides, not the sweep
    for eid in ("known", "orphan", "fresh-orphan"):
        await seed_keys(redis, names, eid)
    await asyncio.sleep(2.2)  # Redis idle time has a 1 s resolution
    await redis.xadd(names.audio("fresh-orphan"), {"seq": "99", "pcm": b"\0\0"})
    known_before = await keys_of(redis, names, "known")
    releaser = RedisReleaser(settings, db, redis, NotesMetrics())
    assert await releaser.sweep_orphans(idle_s=2) == 1
    assert await keys_of(redis, names, "orphan") == set()
    assert await keys_of(redis, names, "known") == known_before
    assert await redis.exists(names.audio("fresh-orphan"))
    assert await releaser.sweep_orphans() == 0  # the real threshold is a day at least


@pytest.mark.parametrize("bad", ["-1", "soon"])
def test_nonsense_max_age_refused_at_start_with_one_line(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        NotesSettings(_env_file=None, failed_audio_max_age_h=bad)  # type: ignore[call-arg]
    assert err.value.errors()[0]["loc"] == ("failed_audio_max_age_h",)
    result = notes_cli(
        "run",
        MEDSCRIBE_FAILED_AUDIO_MAX_AGE_H=bad,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        MEDSCRIBE_LLM_API_KEY="k",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("medscribe: invalid setting FAILED_AUDIO_MAX_AGE_H")
