"""``repo.store_turn`` (one read of the encounter, then only the checks that can apply)
decides and writes exactly what ``upsert_turn`` + ``late_turn_arrived`` +
``completes_pending`` did, in every state a turn can arrive in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.models import Encounter, Note, Turn
from shared.contracts import (
    EditedTurn,
    EncounterStarted,
    EncounterStopped,
    EncounterTranscribed,
    SpeakerRevised,
)

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def turn(enc: str, seq: int, **kw: Any) -> EditedTurn:
    base: dict[str, Any] = {
        "encounter_id": enc,
        "seq": seq,
        "stt_session_id": "s1",
        "turn_order": seq,
        "text": f"turn {seq} raw",
        "start_ms": seq * 1000,
        "end_ms": seq * 1000 + 900,
        "edited_text": f"turn {seq} edited",
        "edit_status": "edited",
        "llm_model": "m",
        "speaker": "A",
        "formatted": True,
    }
    base.update(kw)
    return EditedTurn.model_validate(base)


async def _old_way(s: Any, t: EditedTurn) -> repo.TurnStored:
    changed = await repo.upsert_turn(s, t)
    reopened = changed and await repo.late_turn_arrived(s, t.encounter_id)
    completes = changed and await repo.completes_pending(s, t.encounter_id)
    return repo.TurnStored(changed, reopened, completes)


async def _started(s: Any, enc: str) -> None:
    await repo.upsert_encounter_started(
        s, EncounterStarted(encounter_id=enc, room="exam-1", llm_model="m", started_at=NOW)
    )


async def _transcribed(s: Any, enc: str, count: int, revisions: int = 0) -> None:
    await repo.mark_stopped(s, EncounterStopped(encounter_id=enc, last_frame_seq=1))
    revised = tuple(SpeakerRevised(seq=i, speaker="B") for i in range(revisions))
    await repo.mark_transcribed(
        s,
        EncounterTranscribed(
            encounter_id=enc, turn_count=count, audio_ms=1, speaker_revisions=revised
        ),
    )


async def _note_with_gap(s: Any, enc: str, missing: list[int], author: str = "system") -> None:
    assert await repo.claim_note_job(s, enc, "w", NOW, 30)
    await repo.add_note_version(
        s, enc, kind="generated", status="needs_review", text="t", sections={}, model="m",
        author="system", missing=missing,
    )  # fmt: skip
    assert await repo.complete_note_job(s, enc, "w", status="needs_review", missing=missing)
    if author != "system":
        await repo.add_note_version(
            s, enc, kind="edited", status="draft", text="t2", sections={}, model=None,
            author=author,
        )  # fmt: skip


async def _snapshot(db: Database, enc: str) -> dict[str, Any]:
    async with db.session() as s:
        e = await repo.get_encounter(s, enc)
        assert e is not None
        turns = (await s.scalars(select(Turn).where(Turn.encounter_id == enc))).all()
        notes = (await s.scalars(select(Note).where(Note.encounter_id == enc))).all()
        return {
            "status": e.status,
            "missing": e.missing_seqs,
            "expected": e.expected_turns,
            "lease": e.note_lease_owner,
            "turns": sorted(
                (t.seq, t.speaker, t.edited_text, t.quality, t.edit_status) for t in turns
            ),
            "notes": sorted((n.version, n.author) for n in notes),
        }


Setup = Callable[[Any, str], Awaitable[None]]


async def _nothing(s: Any, enc: str) -> None:
    return None


async def _recording(s: Any, enc: str) -> None:
    await _started(s, enc)


async def _pending_missing_two(s: Any, enc: str) -> None:
    await _started(s, enc)
    await repo.upsert_turn(s, turn(enc, 0))
    await _transcribed(s, enc, 3)


async def _pending_missing_one(s: Any, enc: str) -> None:
    await _pending_missing_two(s, enc)
    await repo.upsert_turn(s, turn(enc, 1))


async def _pending_revised(s: Any, enc: str) -> None:
    await _started(s, enc)
    await _transcribed(s, enc, 1, revisions=1)


async def _gap_of_one(s: Any, enc: str) -> None:
    await _pending_missing_one(s, enc)
    await _note_with_gap(s, enc, [2])


async def _gap_of_two(s: Any, enc: str) -> None:
    await _pending_missing_two(s, enc)
    await _note_with_gap(s, enc, [1, 2])


async def _gap_edited_by_a_person(s: Any, enc: str) -> None:
    await _pending_missing_one(s, enc)
    await _note_with_gap(s, enc, [2], author="dr-a")


async def _purged(s: Any, enc: str) -> None:
    await _started(s, enc)
    row = await s.get(Encounter, enc)
    row.status = "purged"


async def _better_stored(s: Any, enc: str) -> None:
    await _pending_missing_one(s, enc)
    await repo.upsert_turn(s, turn(enc, 2, formatted=True))


CASES: dict[str, tuple[Setup, EditedTurn]] = {
    "first entry of an encounter": (_nothing, turn("x", 0)),
    "recording": (_recording, turn("x", 0)),
    "note pending, not the last": (_pending_missing_two, turn("x", 1)),
    "note pending, the last": (_pending_missing_one, turn("x", 2)),
    "note pending, a duplicate": (_pending_missing_one, turn("x", 1)),
    "speaker revised before it arrived": (_pending_revised, turn("x", 0)),
    "closes the gap of the system's note": (_gap_of_one, turn("x", 2)),
    "narrows the gap": (_gap_of_two, turn("x", 2)),
    "closes the gap of a person's version": (_gap_edited_by_a_person, turn("x", 2)),
    "purged": (_purged, turn("x", 0)),
    "worse than the stored version": (_better_stored, turn("x", 2, edit_status="fallback")),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_store_turn_does_what_the_three_steps_did(db: Database, case: str) -> None:
    setup, t = CASES[case]
    old_enc, new_enc = "old-1", "new-1"
    results = {}
    for enc, store in ((old_enc, _old_way), (new_enc, repo.store_turn)):
        async with db.session() as s:
            await setup(s, enc)
        async with db.session() as s:
            results[enc] = await store(s, t.model_copy(update={"encounter_id": enc}))
    assert results[new_enc] == results[old_enc]
    assert await _snapshot(db, new_enc) == await _snapshot(db, old_enc)
