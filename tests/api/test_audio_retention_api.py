"""The encounter JSON says where the visit's audio is: released from Redis (when), or
held for a replay after a failed transcription (until when, with a warning)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI

from services.notes.api.app import context
from services.notes.db.engine import Database
from services.notes.db.models import Encounter
from tests.api.seeding import add_encounter, bearer


async def test_failed_visit_shows_until_when_its_audio_is_kept(
    client: httpx.AsyncClient, app: FastAPI, db: Database, tokens: dict[str, str]
) -> None:
    failed = await add_encounter(db, status="failed", note=None)
    async with db.session() as s:
        enc = await s.get(Encounter, failed.encounter_id)
        assert enc is not None
        enc.transcribed_at = None  # the STT pass never finished
        stopped = enc.stopped_at
    assert stopped is not None
    r = await client.get(f"/v1/encounters/{failed.encounter_id}", headers=bearer(tokens["staff"]))
    assert r.status_code == 200, r.text
    body = r.json()
    hours = context(app).settings.failed_audio_max_age_h
    kept = datetime.fromisoformat(body["audio_kept_until"])
    assert kept == stopped + timedelta(hours=hours)
    assert "transcription failed" in body["audio_warning"]
    assert body["audio_released_at"] is None


async def test_done_visit_shows_when_its_audio_left_redis(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    done = await add_encounter(db)
    r = await client.get(f"/v1/encounters/{done.encounter_id}", headers=bearer(tokens["staff"]))
    assert r.json()["audio_released_at"] is None  # not yet: the job has not run
    assert r.json()["audio_warning"] is None
    async with db.session() as s:
        enc = await s.get(Encounter, done.encounter_id)
        assert enc is not None
        assert enc.note_at is not None
        enc.redis_released_at = enc.note_at + timedelta(minutes=1)
    r = await client.get(f"/v1/encounters/{done.encounter_id}", headers=bearer(tokens["staff"]))
    assert r.json()["audio_released_at"] is not None
    assert r.json()["audio_kept_until"] is None
