"""The repository on SQLite and PostgreSQL: idempotent, order-independent writes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.notes.api import queries
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.status import EncounterStatus
from shared.contracts import (
    EditedTurn,
    EncounterFailed,
    EncounterStarted,
    EncounterStopped,
    EncounterTranscribed,
    Flag,
    SttSessionUsage,
)


def edited(enc: str, seq: int, text: str = "", **kw: object) -> EditedTurn:
    base: dict[str, object] = {
        "encounter_id": enc,
        "seq": seq,
        "stt_session_id": "s1",
        "turn_order": seq,
        "text": text or f"turn {seq} raw",
        "start_ms": seq * 1000,
        "end_ms": seq * 1000 + 900,
        "edited_text": (text or f"turn {seq}") + " edited",
        "edit_status": "edited",
        "llm_model": "claude-haiku-4-5-20251001",
        "flags": (Flag(kind="medication", term="metformin"),),
    }
    base.update(kw)
    return EditedTurn.model_validate(base)


async def test_turns_out_of_order_and_duplicated_assemble_in_order(db: Database) -> None:
    seqs = list(range(40)) * 2
    random.Random(7).shuffle(seqs)
    for seq in seqs:
        async with db.session() as s:
            await repo.upsert_turn(s, edited("enc-1", seq))
    async with db.session() as s:
        turns = await repo.list_turns(s, "enc-1")
        enc = await repo.get_encounter(s, "enc-1")
    assert [t.seq for t in turns] == list(range(40))
    assert [t.edited_text for t in turns] == [f"turn {i} edited" for i in range(40)]
    assert turns[0].flags == [{"kind": "medication", "term": "metformin", "assertion": "present"}]
    # The turns overtook EncounterStarted: a placeholder row holds them.
    assert enc is not None
    assert enc.started is False
    assert enc.status == EncounterStatus.RECORDING


async def test_better_version_replaces_worse_never_the_reverse(db: Database) -> None:
    fallback = edited(
        "enc-2", 0, "pt has cough", edit_status="fallback", edited_text="pt has cough"
    )
    unformatted = edited("enc-2", 0, "pt has cough", formatted=False, edited_text="Pt has cough")
    good = edited("enc-2", 0, "Patient has a cough.", edited_text="Patient has a cough.")
    async with db.session() as s:
        assert await repo.upsert_turn(s, unformatted)
        assert await repo.upsert_turn(s, good)
        assert not await repo.upsert_turn(s, fallback)  # worse: ignored
        assert not await repo.upsert_turn(s, unformatted)
        assert await repo.upsert_turn(s, good)  # duplicate of the same quality: harmless
    async with db.session() as s:
        turns = await repo.list_turns(s, "enc-2")
    assert len(turns) == 1
    assert turns[0].edited_text == "Patient has a cough."
    assert turns[0].formatted


async def test_control_events_in_any_order(db: Database) -> None:
    started = EncounterStarted(
        encounter_id="enc-3",
        room="exam-2",
        llm_model="gemini-2.5-flash",
        clinician="dr-a",
        started_at=datetime(2026, 1, 2, 9, 0, tzinfo=UTC),
    )
    transcribed = EncounterTranscribed(
        encounter_id="enc-3",
        turn_count=2,
        audio_ms=65_000,
        stt_sessions=(
            SttSessionUsage(session_id="a", audio_duration_s=40, session_duration_s=41),
            SttSessionUsage(session_id="b", audio_duration_s=25, session_duration_s=27),
        ),
    )
    async with db.session() as s:
        await repo.mark_transcribed(s, transcribed)
    async with db.session() as s:
        await repo.mark_stopped(s, EncounterStopped(encounter_id="enc-3", last_frame_seq=1299))
        await repo.upsert_encounter_started(s, started)
        await repo.upsert_encounter_started(s, started)
    async with db.session() as s:
        enc = await repo.get_encounter(s, "enc-3")
    assert enc is not None
    assert (
        enc.status == EncounterStatus.NOTE_PENDING
    )  # Stopped/Started arriving late never move it back
    assert (enc.room, enc.clinician, enc.llm_model) == ("exam-2", "dr-a", "gemini-2.5-flash")
    assert enc.started_at == datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
    assert (enc.expected_turns, enc.stt_audio_s, enc.stt_session_s) == (2, 65, 68)
    assert enc.last_frame_seq == 1299

    async with db.session() as s:
        await repo.upsert_encounter_started(s, started.model_copy(update={"encounter_id": "e4"}))
        await repo.mark_stopped(s, EncounterStopped(encounter_id="e4", last_frame_seq=5))
        enc4 = await repo.get_encounter(s, "e4")
        assert enc4 is not None
        assert enc4.status == EncounterStatus.TRANSCRIBING
        await repo.mark_failed(
            s, EncounterFailed(encounter_id="e4", stage="stt", reason="auth_rejected")
        )
        enc4 = await repo.get_encounter(s, "e4")
        assert enc4 is not None
        assert enc4.status == "failed"
        assert enc4.failure_reason == "auth_rejected"


async def test_note_versions_lease_and_signing(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.session() as s:
        await repo.upsert_turn(s, edited("enc-5", 0))
        await repo.mark_transcribed(
            s, EncounterTranscribed(encounter_id="enc-5", turn_count=2, audio_ms=1)
        )
    async with db.session() as s:
        # one turn missing, grace not over: not due
        assert await repo.pending_note_jobs(s, now, grace_s=60) == []
        due = await repo.pending_note_jobs(s, now + timedelta(seconds=61), grace_s=60)
        assert [(c.encounter_id, c.missing) for c in due] == [("enc-5", (1,))]
    async with db.session() as s:
        assert await repo.claim_note_job(s, "enc-5", "a", now, 30)
    async with db.session() as s:
        assert not await repo.claim_note_job(s, "enc-5", "b", now, 30)
        # after the lease runs out another replica may take over
        assert await repo.claim_note_job(s, "enc-5", "b", now + timedelta(seconds=31), 30)
    async with db.session() as s:
        assert not await repo.complete_note_job(
            s, "enc-5", "a", status=EncounterStatus.READY, missing=[]
        )
    async with db.session() as s:
        note = await repo.add_note_version(
            s,
            "enc-5",
            kind="generated",
            status="draft",
            text="Subjective:\n- x",
            sections={"subjective": ["x"]},
            model="m",
            author="system",
        )
        assert note.version == 1
        assert await repo.complete_note_job(
            s, "enc-5", "b", status=EncounterStatus.READY, missing=[1]
        )
    async with db.session() as s:
        with pytest.raises(repo.VersionConflict):
            await repo.add_note_version(
                s,
                "enc-5",
                kind="generated",
                status="draft",
                text="t",
                sections={},
                model="m",
                author="system",
                version=1,
            )
        edit = await repo.add_note_version(
            s,
            "enc-5",
            kind="edited",
            status="draft",
            text="t2",
            sections={},
            model=None,
            author="dr-a",
        )
        assert edit.version == 2
    async with db.session() as s:
        enc = await repo.get_encounter(s, "enc-5")
        assert enc is not None
        assert enc.status == EncounterStatus.READY
        assert enc.missing_seqs == [1]
        cur = await repo.current_note(s, "enc-5")
        assert cur is not None
        assert cur.version == 2
        await repo.sign_note(s, "enc-5", 2, "dr-a")
    async with db.session() as s:
        enc = await repo.get_encounter(s, "enc-5")
        hist = await repo.note_history(s, "enc-5")
        assert enc is not None
        assert enc.status == EncounterStatus.SIGNED
        assert [n.version for n in hist] == [1, 2]
        assert hist[1].signed_by == "dr-a"
        with pytest.raises(repo.InvalidTransition):
            await repo.request_note(s, "enc-5")


async def test_list_encounters_pages_with_filters(db: Database) -> None:
    base = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    async with db.session() as s:
        for i in range(7):
            await repo.upsert_encounter_started(
                s,
                EncounterStarted(
                    encounter_id=f"p{i}",
                    room="r1" if i % 2 else "r2",
                    llm_model="m",
                    clinician="dr-a",
                    started_at=base + timedelta(minutes=i // 2),  # ties on started_at
                ),
            )
    seen: list[str] = []
    cursor = None
    async with db.session() as s:
        while True:
            page, cursor = await queries.list_encounters(
                s, queries.EncounterFilter(), cursor, limit=3
            )
            seen += [e.id for e in page]
            if cursor is None:
                break
        r1, _ = await queries.list_encounters(s, queries.EncounterFilter(room="r1"), None, 50)
        counts = await repo.count_by_status(s)
        with pytest.raises(queries.BadCursor):
            await queries.list_encounters(s, queries.EncounterFilter(), "not-a-cursor", 50)
    assert seen == ["p6", "p5", "p4", "p3", "p2", "p1", "p0"]
    assert {e.id for e in r1} == {"p1", "p3", "p5"}
    assert counts == {EncounterStatus.RECORDING: 7}


async def test_audit_and_tokens(db: Database) -> None:
    async with db.session() as s:
        await repo.create_token(
            s, name="front-desk", role="staff", token_hash="h1", clinician_id=None
        )
        with pytest.raises(repo.VersionConflict):
            await repo.create_token(
                s, name="front-desk", role="staff", token_hash="h2", clinician_id=None
            )
        await repo.add_audit(
            s, actor="front-desk", role="staff", action="note.read", encounter_id="x", status=200
        )
    async with db.session() as s:
        tok = await repo.find_token_by_hash(s, "h1")
        assert tok is not None
        assert tok.role == "staff"
        await repo.revoke_token(s, "front-desk")
    async with db.session() as s:
        assert await repo.find_token_by_hash(s, "h1") is None
        rows, _ = await queries.list_audit(s, queries.AuditFilter(encounter_id="x"), None, 100)
        assert [(r.actor, r.action, r.status) for r in rows] == [("front-desk", "note.read", 200)]
        assert rows[0].at.tzinfo is not None


async def test_late_turn_never_replaces_a_clinicians_version(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.session() as s:
        await repo.upsert_turn(s, edited("late-1", 0))
        await repo.mark_transcribed(
            s, EncounterTranscribed(encounter_id="late-1", turn_count=2, audio_ms=1)
        )
    async with db.session() as s:
        assert await repo.claim_note_job(s, "late-1", "w", now, 30)
        await repo.add_note_version(
            s,
            "late-1",
            kind="generated",
            status="needs_review",
            text="t",
            sections={},
            model="m",
            author="system",
            missing=[1],
        )
        assert await repo.complete_note_job(s, "late-1", "w", status="needs_review", missing=[1])
        await repo.add_note_version(
            s,
            "late-1",
            kind="edited",
            status="draft",
            text="t2",
            sections={},
            model=None,
            author="dr-a",
        )
    async with db.session() as s:
        await repo.upsert_turn(s, edited("late-1", 1))
        assert not await repo.late_turn_arrived(s, "late-1")
    async with db.session() as s:
        enc = await repo.get_encounter(s, "late-1")
    assert enc is not None
    assert enc.status == "needs_review"  # the clinician's edit stands
    assert enc.missing_seqs is None  # but the gap is no longer shown as open
