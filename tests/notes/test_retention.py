"""The retention policy: transcripts and exported files go a set number of days after
signing; the signed note never goes; unsigned visits are untouched; a second run removes
nothing more; a setting that makes no sense is refused at start with one line."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from services.notes.db.models import Note, Turn
from services.notes.retention import RetentionPolicy, apply_retention
from tests.api.seeding import add_encounter
from tests.helpers.procs import medscribe_cmd, subprocess_env

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def _counts(db: Database, eid: str) -> tuple[int, int]:
    async with db.session() as s:
        turns = await s.scalar(select(func.count()).where(Turn.encounter_id == eid))
        notes = await s.scalar(select(func.count()).where(Note.encounter_id == eid))
    return int(turns or 0), int(notes or 0)


async def test_policy_removes_only_what_is_past_its_time(db_url: str, tmp_path: Path) -> None:
    await upgrade_async(db_url)
    db = Database(db_url)
    exports = tmp_path / "exports"
    old = NOW - timedelta(days=45)
    recent = NOW - timedelta(days=5)
    expired = (await add_encounter(db, note="signed", status="signed", started_at=old)).encounter_id
    fresh = (
        await add_encounter(db, note="signed", status="signed", started_at=recent)
    ).encounter_id
    unsigned = (await add_encounter(db, note="draft", status="ready", started_at=old)).encounter_id
    for eid in (expired, fresh, unsigned):
        (exports / eid).mkdir(parents=True)
        (exports / eid / "encounter_transcript.txt").write_text("x\n")
    try:
        nothing = await apply_retention(db, exports, RetentionPolicy(), NOW)
        assert nothing.turns_removed == 0
        assert nothing.export_folders_removed == 0

        report = await apply_retention(db, exports, RetentionPolicy(30, 30), NOW)
        assert report.transcripts_removed == 1
        assert report.turns_removed == 4
        assert report.export_folders_removed == 1
        assert await _counts(db, expired) == (0, 1)  # the signed note is the record: it stays
        assert not (exports / expired).exists()
        assert await _counts(db, fresh) == (4, 1)
        assert (exports / fresh).exists()
        assert await _counts(db, unsigned) == (4, 1)  # never signed: never expires
        assert (exports / unsigned).exists()

        again = await apply_retention(db, exports, RetentionPolicy(30, 30), NOW)
        assert again == type(again)(0, 0, 0)
    finally:
        await db.dispose()


def test_retention_command_and_bad_settings(db_url: str, tmp_path: Path) -> None:
    asyncio.run(upgrade_async(db_url))

    def retention(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*medscribe_cmd(), "notes", "retention"],
            env=subprocess_env(
                MEDSCRIBE_DATABASE_URL=db_url, MEDSCRIBE_EXPORT_DIR=str(tmp_path), **env
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )

    off = retention()
    assert off.returncode == 0, off.stderr
    assert "everything is kept" in off.stdout
    on = retention(MEDSCRIBE_RETENTION_TRANSCRIPT_DAYS="30")
    assert on.returncode == 0, on.stderr
    assert "transcripts removed from 0" in on.stdout
    for bad in ("-3", "thirty", "0"):
        refused = retention(MEDSCRIBE_RETENTION_TRANSCRIPT_DAYS=bad)
        assert refused.returncode == 2, bad
        assert "MEDSCRIBE_RETENTION_TRANSCRIPT_DAYS" in refused.stderr.upper(), refused.stderr
        assert "Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
