"""The optional FLAC archive (MEDSCRIBE_AUDIO_ARCHIVE=flac) with a real Redis, real
libsndfile and SQLite/PostgreSQL: the audio is written once, decodes to the frames sent,
is 0640 and exists before the audio leaves Redis; a visit whose archive cannot be written
keeps its audio; a purged visit gets none; retention removes it."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis
import soundfile
from pydantic import ValidationError

from services.notes.audio_archive import ARCHIVE_NAME, archive_audio, archive_path
from services.notes.config import NotesSettings
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.models import Encounter
from services.notes.metrics import NotesMetrics
from services.notes.release import RedisReleaser
from services.notes.retention import RetentionPolicy, apply_retention
from services.notes.status import EncounterStatus
from shared.contracts import (
    AudioFrame,
    EncounterStarted,
    StreamNames,
    SttSettings,
    encode_audio,
)
from tests.api.seeding import add_encounter
from tests.kit.notes import notes_settings
from tests.notes.test_notes_cli import notes as notes_cli
from tests.notes.test_notes_release import keys_of, released_at, seed_keys, visit

FRAME = 800  # samples per 50 ms frame at 16 kHz


def frame_samples(seq: int, n: int = FRAME) -> np.ndarray:
    """A distinct, deterministic frame: a ramp offset by its number."""
    return ((np.arange(n, dtype=np.int32) * 37 + seq * 1001) % 60000 - 30000).astype("<i2")


async def add_frames(redis: aioredis.Redis, names: StreamNames, eid: str, seqs: list[int]) -> None:
    for seq in seqs:
        frame = AudioFrame(seq=seq, pcm=frame_samples(seq).tobytes())
        await redis.xadd(names.audio(eid), encode_audio(frame))  # type: ignore[arg-type]


def read_back(path: Path) -> tuple[np.ndarray, int]:
    data, rate = soundfile.read(path, dtype="int16")
    return data, rate


async def test_archive_is_the_frames_in_order_once_each_and_private(
    redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    eid = "enc:arch-1"
    # 0..29, frame 12 resent (a capture restart), then a malformed entry the bridge skips.
    await add_frames(redis, names, eid, [*range(13), 12, *range(13, 30)])
    await redis.xadd(names.audio(eid), {"seq": "x", "pcm": b"\0\0"})
    await add_frames(redis, names, eid, [30])
    path = await archive_audio(redis, names, tmp_path, eid, 16000, batch=7)  # many XRANGEs
    assert path == archive_path(tmp_path, eid)
    assert path is not None
    assert path.name == ARCHIVE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert soundfile.info(str(path)).format == "FLAC"
    data, rate = read_back(path)
    assert rate == 16000
    expected = np.concatenate([frame_samples(s) for s in range(31)])
    assert np.array_equal(data, expected)  # lossless and exact, frame 12 once
    assert [p.name for p in path.parent.iterdir()] == [ARCHIVE_NAME]  # no temporary left

    # Written once: a second call keeps the file as it is, whatever Redis holds now.
    before = path.read_bytes()
    await add_frames(redis, names, eid, [31, 32])
    assert await archive_audio(redis, names, tmp_path, eid, 16000) == path
    assert path.read_bytes() == before


async def test_no_audio_writes_nothing_and_a_dead_attempts_leftover_is_removed(
    redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    assert await archive_audio(redis, names, tmp_path, "enc-empty", 16000) is None
    assert not any(tmp_path.iterdir())
    # A process killed while encoding leaves its temporary file; the next attempt
    # replaces it with the finished archive.
    folder = archive_path(tmp_path, "enc-left").parent
    folder.mkdir()
    (folder / f".{ARCHIVE_NAME}.999.tmp").write_bytes(b"half")
    await add_frames(redis, names, "enc-left", [0, 1])
    path = await archive_audio(redis, names, tmp_path, "enc-left", 8000)
    assert path is not None
    assert sorted(p.name for p in folder.iterdir()) == [ARCHIVE_NAME]
    data, rate = read_back(path)
    assert rate == 8000
    assert len(data) == 2 * FRAME


async def started(db: Database, eid: str, sample_rate: int) -> None:
    async with db.session() as s:
        await repo.upsert_encounter_started(
            s,
            EncounterStarted(
                encounter_id=eid,
                room="exam-1",
                llm_model="claude-haiku-4-5-20251001",
                stt=SttSettings(sample_rate=sample_rate),
            ),
        )


def archive_settings(db: Database, names: StreamNames, export: Path) -> NotesSettings:
    return notes_settings(db, names, export, redis_release_delay_s=60, audio_archive="flac")


async def test_release_archives_first_and_keeps_audio_when_it_cannot(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    await started(db, "done", 22050)
    await visit(db, "done", transcribed=True, note=True)
    await visit(db, "blocked", transcribed=True, note=True)
    for eid in ("done", "blocked"):
        await seed_keys(redis, names, eid)
    export = tmp_path / "exports"
    export.mkdir()
    # "blocked" cannot get a folder: a file stands where it would go.
    archive_path(export, "blocked").parent.write_text("not a folder")
    metrics = NotesMetrics()
    releaser = RedisReleaser(archive_settings(db, names, export), db, redis, metrics)

    assert await releaser.release_due() == 1
    path = archive_path(export, "done")
    data, rate = read_back(path)
    assert rate == 22050  # the visit's own rate, stored from EncounterStarted
    assert len(data) == 20 * 800  # seed_keys: 20 frames of 800 samples
    assert await keys_of(redis, names, "done") == set()
    # The archive could not be written: the audio stays in Redis, the visit stays due.
    assert await redis.xlen(names.audio("blocked")) == 20
    assert await released_at(db, "blocked") is None
    assert metrics.export_errors._value.get() == 1

    archive_path(export, "blocked").parent.unlink()  # the admin fixes the disk
    assert await releaser.release_due() == 1
    assert archive_path(export, "blocked").exists()
    assert await keys_of(redis, names, "blocked") == set()


async def test_a_purged_visit_is_never_archived(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    await visit(db, "purged", transcribed=True, note=True)
    async with db.session() as s:
        enc = await s.get(Encounter, "purged")
        assert enc is not None
        enc.status = EncounterStatus.PURGED
    await seed_keys(redis, names, "purged")  # e.g. a purge whose Redis step had not run yet
    export = tmp_path / "exports"
    releaser = RedisReleaser(archive_settings(db, names, export), db, redis, NotesMetrics())
    assert await releaser.release_due() == 1
    assert not archive_path(export, "purged").exists()
    assert await keys_of(redis, names, "purged") == set()


async def test_off_by_default_writes_no_audio(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    await visit(db, "plain", transcribed=True, note=True)
    await seed_keys(redis, names, "plain")
    settings = notes_settings(db, names, tmp_path / "exports", redis_release_delay_s=60)
    assert settings.audio_archive == "off"
    assert await RedisReleaser(settings, db, redis, NotesMetrics()).release_due() == 1
    assert not (tmp_path / "exports").exists()


async def test_retention_removes_archived_audio_only(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    export = tmp_path / "exports"
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    old = await add_encounter(db, note="signed", status="signed", started_at=now - timedelta(45))
    eid = old.encounter_id
    await add_frames(redis, names, eid, [0, 1, 2])
    path = await archive_audio(redis, names, export, eid, 16000)
    assert path is not None
    other = path.parent / "encounter.json"
    other.write_text("{}")
    policy = RetentionPolicy(audio_days=30)
    assert policy.active
    report = await apply_retention(db, export, policy, now)
    assert report.audio_files_removed == 1
    assert not path.exists()
    assert other.exists()  # the other export files follow their own setting
    assert (await apply_retention(db, export, policy, now)).audio_files_removed == 0


def test_unknown_archive_format_refused_at_start_with_one_line(tmp_path: Path) -> None:
    for bad in ("mp3", "yes", ""):
        with pytest.raises(ValidationError):
            NotesSettings(_env_file=None, audio_archive=bad)  # type: ignore[call-arg]
    flac = NotesSettings(_env_file=None, audio_archive=" FLAC ")  # type: ignore[call-arg]
    assert flac.audio_archive == "flac"
    result = notes_cli(
        "run",
        MEDSCRIBE_AUDIO_ARCHIVE="mp3",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        MEDSCRIBE_LLM_API_KEY="k",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("medscribe: invalid setting AUDIO_ARCHIVE")
