"""Purging one encounter's patient data on request: API (admin only) and CLI, audited.

The content goes from the database, the export folder and Redis; the encounter row and
the audit rows stay; a signed note needs an explicit confirmation; another encounter whose
id starts the same is untouched; a late turn cannot bring purged text back.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from services.notes.api.app import create_app
from services.notes.audio_archive import archive_path
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from services.notes.db.models import AuditEntry, Encounter, Note, RoomAssignment, Turn, utcnow
from shared.contracts import EditedTurn, StreamNames
from tests.api.seeding import add_encounter, add_role_tokens, bearer
from tests.helpers.procs import medscribe_cmd, subprocess_env
from tests.kit.api import make_settings


class Clinic:
    def __init__(
        self, db: Database, client: httpx.AsyncClient, tokens: dict[str, str], redis: Any,
        names: StreamNames, exports: Path,
    ) -> None:  # fmt: skip
        self.db, self.client, self.tokens = db, client, tokens
        self.redis, self.names, self.exports = redis, names, exports

    async def purge(self, eid: str, who: str = "admin", **body: Any) -> httpx.Response:
        return await self.client.post(
            f"/v1/encounters/{eid}/purge", json=body, headers=bearer(self.tokens[who])
        )

    async def visit(self, note: str = "draft") -> str:
        """An encounter with turns, a note, an export folder and keys in Redis."""
        status = "signed" if note == "signed" else "ready"
        seeded = await add_encounter(self.db, clinician="dr-a", note=note, status=status)
        eid = seeded.encounter_id
        folder = self.exports / eid
        folder.mkdir(parents=True)
        (folder / "encounter_transcript.txt").write_text("transcript\n")
        await self.redis.xadd(self.names.audio(eid), {"seq": "0", "pcm": b"\x00\x00"})
        await self.redis.xadd(self.names.partials(eid), {"text": "partial"})
        await self.redis.hset(self.names.bridge_state(eid), "status", "done")
        await self.redis.set(self.names.editor_published(eid, 3), "1")
        return eid

    async def with_patient(self, eid: str, name: str) -> None:
        """The patient on the encounter and on the front desk's assignment that brought them."""
        async with self.db.session() as s:
            enc = await s.get(Encounter, eid)
            assert enc is not None
            enc.patient_name, enc.patient_mrn = name, f"MRN-{name[:3]}"
            enc.patient_dob, enc.visit_reason = date(1961, 4, 12), "Cough"
            s.add(
                RoomAssignment(
                    room="room-1", patient_name=name, patient_mrn=f"MRN-{name[:3]}",
                    patient_dob=date(1961, 4, 12), visit_reason="Cough", clinician="dr-a",
                    created_by="staff", encounter_id=eid, used_at=utcnow(),
                )
            )  # fmt: skip

    async def patient_fields(self, eid: str) -> list[Any]:
        async with self.db.session() as s:
            enc = await s.get(Encounter, eid)
            assert enc is not None
            rows = (
                await s.scalars(select(RoomAssignment).where(RoomAssignment.encounter_id == eid))
            ).all()
        fields: list[Any] = [enc.patient_name, enc.patient_mrn, enc.patient_dob, enc.visit_reason]
        for a in rows:
            fields += [a.patient_name, a.patient_mrn, a.patient_dob, a.visit_reason]
        return fields

    async def counts(self, eid: str) -> tuple[int, int]:
        async with self.db.session() as s:
            turns = await s.scalar(select(func.count()).where(Turn.encounter_id == eid))
            notes = await s.scalar(select(func.count()).where(Note.encounter_id == eid))
        return int(turns or 0), int(notes or 0)

    async def redis_keys(self, eid: str) -> list[str]:
        keys = [
            k.decode() if isinstance(k, bytes) else k
            async for k in self.redis.scan_iter(match=f"{self.names.prefix}*")
        ]
        return sorted(k for k in keys if eid in k)


@pytest.fixture
async def clinic(
    db_url: str, redis_url: str, names: StreamNames, redis: Any, tmp_path: Path
) -> AsyncIterator[Clinic]:
    await upgrade_async(db_url)
    db = Database(db_url)
    exports = tmp_path / "exports"
    app = create_app(make_settings(db_url, redis_url, names, exports), db, redis)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.8", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield Clinic(db, client, await add_role_tokens(db), redis, names, exports)
    await db.dispose()


async def test_admin_purge_removes_content_everywhere_and_keeps_the_row_and_audit(
    clinic: Clinic,
) -> None:
    eid = await clinic.visit()
    sibling = await clinic.visit()
    await clinic.with_patient(eid, "Asha Patel")
    await clinic.with_patient(sibling, "Ben Okafor")
    # An id that extends the purged one must not be matched by its key patterns.
    longer = eid + "0"
    await clinic.redis.hset(clinic.names.bridge_state(longer), "status", "done")

    r = await clinic.purge(eid)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "purged"
    assert body["turns"] == 4
    assert body["note_versions"] == 1
    assert body["export_folders"] == 1
    assert body["redis_keys"] == 4

    assert await clinic.counts(eid) == (0, 0)
    # Who the visit was with goes too, from the encounter and from its room assignment.
    assert await clinic.patient_fields(eid) == [None] * 4 + ["", None, None, None]
    assert "Ben Okafor" in await clinic.patient_fields(sibling)
    assert not (clinic.exports / eid).exists()
    assert await clinic.redis_keys(eid) == [clinic.names.bridge_state(longer)]
    assert await clinic.counts(sibling) == (4, 1)  # another visit is untouched
    assert (clinic.exports / sibling).exists()
    assert len(await clinic.redis_keys(sibling)) == 4

    got = await clinic.client.get(f"/v1/encounters/{eid}", headers=bearer(clinic.tokens["admin"]))
    assert got.status_code == 200
    assert got.json()["status"] == "purged"
    assert got.json()["patient"] is None
    assert got.json()["visit_reason"] is None
    assert "Patel" not in got.text
    note = await clinic.client.get(
        f"/v1/encounters/{eid}/note", headers=bearer(clinic.tokens["admin"])
    )
    assert note.status_code == 404
    async with clinic.db.session() as s:
        rows = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "encounter.purge"))
        ).all()
    assert [(a.actor, a.encounter_id, a.status) for a in rows] == [("admin", eid, 200)]

    again = await clinic.purge(eid)  # idempotent: finishes an interrupted purge
    assert again.status_code == 200
    assert again.json()["turns"] == 0

    # A late (or replayed) turn of the purged encounter cannot bring its text back.
    late = EditedTurn(
        encounter_id=eid, seq=7, stt_session_id="s", turn_order=7, text="late words",
        edited_text="Late words.", edit_status="edited", llm_model="m", start_ms=0, end_ms=1,
    )  # fmt: skip
    async with clinic.db.session() as s:
        assert await repo.upsert_turn(s, late) is False
    assert await clinic.counts(eid) == (0, 0)


async def test_signed_note_needs_confirmation_and_only_admins_purge(clinic: Clinic) -> None:
    eid = await clinic.visit(note="signed")
    refused = await clinic.purge(eid)
    assert refused.status_code == 409
    assert "signed" in refused.json()["detail"]
    assert await clinic.counts(eid) == (4, 1)  # nothing went
    assert (clinic.exports / eid).exists()
    for who in ("clin-a", "staff", "auditor"):
        r = await clinic.purge(eid, who=who, confirm_signed=True)
        assert r.status_code == 403, who
    assert await clinic.counts(eid) == (4, 1)
    ok = await clinic.purge(eid, confirm_signed=True)
    assert ok.status_code == 200, ok.text
    assert await clinic.counts(eid) == (0, 0)
    unknown = await clinic.purge("enc-never-was")
    assert unknown.status_code == 404
    bad = await clinic.purge(eid, confirm_signed="please")
    assert bad.status_code == 422
    async with clinic.db.session() as s:
        statuses = (
            await s.scalars(
                select(AuditEntry.status)
                .where(AuditEntry.action == "encounter.purge")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert statuses[0] == 409
    assert 200 in statuses
    assert 404 in statuses


def test_purge_command(db_url: str, redis_url: str, stream_prefix: str, tmp_path: Path) -> None:
    import asyncio

    async def seed() -> str:
        await upgrade_async(db_url)
        db = Database(db_url)
        try:
            seeded = await add_encounter(db, clinician="dr-a", note="signed", status="signed")
            async with db.session() as s:
                enc = await s.get(Encounter, seeded.encounter_id)
                assert enc is not None
                enc.patient_name, enc.patient_mrn = "Asha Patel", "MRN-4471"
            return seeded.encounter_id
        finally:
            await db.dispose()

    async def patient(eid: str) -> tuple[str | None, str | None]:
        db = Database(db_url)
        try:
            async with db.session() as s:
                enc = await s.get(Encounter, eid)
                assert enc is not None
                return enc.patient_name, enc.patient_mrn
        finally:
            await db.dispose()

    eid = asyncio.run(seed())
    env = {
        "MEDSCRIBE_DATABASE_URL": db_url,
        "MEDSCRIBE_REDIS_URL": redis_url,
        "MEDSCRIBE_STREAM_PREFIX": stream_prefix,
        "MEDSCRIBE_EXPORT_DIR": str(tmp_path / "exports"),
    }

    def purge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*medscribe_cmd(), "notes", "purge", *args],
            env=subprocess_env(**env), capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    assert purge(eid).returncode == 2  # no --yes
    unsigned_ok = purge(eid, "--yes")
    assert unsigned_ok.returncode == 2
    assert "--signed" in unsigned_ok.stderr
    assert "Traceback" not in unsigned_ok.stderr
    unknown = purge("enc-nobody", "--yes")
    assert unknown.returncode == 2
    assert "no encounter" in unknown.stderr
    done = purge(eid, "--yes", "--signed")
    assert done.returncode == 0, done.stderr
    assert "4 turns, 1 note versions" in done.stdout
    assert "Patel" not in done.stdout + done.stderr
    assert asyncio.run(patient(eid)) == (None, None)


def test_purge_command_removes_files_and_keys_only_after_its_commit(
    db_url: str, redis_url: str, stream_prefix: str, tmp_path: Path
) -> None:
    """The CLI's purge transaction fails at COMMIT (a deferred foreign key, checked by the
    database only then): the export folder, the audio archive and the Redis keys are all
    still there, as after the API's purge, since they go only once the database took it.
    When the database takes it, the same command removes them."""
    import asyncio

    import redis as sync_redis

    names = StreamNames(stream_prefix)
    exports = tmp_path / "exports"

    async def sql(statement: str, **params: str) -> Any:
        db = Database(db_url)
        try:
            async with db.session() as s:
                result = await s.execute(text(statement), params)
                return result.all() if result.returns_rows else None
        finally:
            await db.dispose()

    async def seed() -> str:
        await upgrade_async(db_url)
        db = Database(db_url)
        try:
            return (await add_encounter(db, note="draft", status="ready")).encounter_id
        finally:
            await db.dispose()

    eid = asyncio.run(seed())
    # A row the purge's deleted turns leave dangling: the commit itself fails.
    asyncio.run(sql("CREATE TABLE purge_guard (turn_id INTEGER REFERENCES turns (id) "
                    "DEFERRABLE INITIALLY DEFERRED)"))  # fmt: skip
    asyncio.run(sql("INSERT INTO purge_guard SELECT id FROM turns WHERE encounter_id = :e", e=eid))
    audio = archive_path(exports, eid)
    audio.parent.mkdir(parents=True)
    audio.write_bytes(b"fLaC")
    transcript = audio.parent / "encounter_transcript.txt"
    transcript.write_text("transcript\n")
    keys = [names.audio(eid), names.bridge_state(eid)]
    client = sync_redis.Redis.from_url(redis_url)
    try:
        client.xadd(keys[0], {"seq": "0", "pcm": b"\x00\x00"})
        client.hset(keys[1], "status", "done")

        def purge() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*medscribe_cmd(), "notes", "purge", eid, "--yes"],
                env=subprocess_env(
                    MEDSCRIBE_DATABASE_URL=db_url, MEDSCRIBE_REDIS_URL=redis_url,
                    MEDSCRIBE_STREAM_PREFIX=stream_prefix, MEDSCRIBE_EXPORT_DIR=str(exports),
                ),
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip

        refused = purge()
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "nothing was removed" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert audio.read_bytes() == b"fLaC"
        assert transcript.exists()
        assert client.exists(*keys) == len(keys)
        status = asyncio.run(sql("SELECT status FROM encounters WHERE id = :e", e=eid))
        assert status == [("ready",)]
        purge_audits = "SELECT count(*) FROM audit_log WHERE action = 'encounter.purge'"
        assert asyncio.run(sql(purge_audits)) == [(0,)]

        asyncio.run(sql("DROP TABLE purge_guard"))
        done = purge()
        assert done.returncode == 0, done.stderr
        assert "1 export folders, 2 Redis keys" in done.stdout
        assert not audio.parent.exists()
        assert client.exists(*keys) == 0
        assert asyncio.run(sql(purge_audits)) == [(1,)]
    finally:
        client.close()
