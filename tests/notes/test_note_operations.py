"""What a person may do to a note (services/notes/domain) on SQLite and PostgreSQL: each
refusal is its own type, and a refused operation stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.models import Note
from services.notes.domain import notes, signing
from services.notes.domain.errors import (
    CannotRegenerate,
    EmptyNote,
    EncounterNotFound,
    FlagsNotAcknowledged,
    NoteChanged,
    NoteLocked,
    NotSignedYet,
    PurgeNeedsConfirmation,
)
from services.notes.domain.notes import Expected
from services.notes.domain.purge import purge_record
from services.notes.status import EncounterStatus, NoteStatus
from tests.api.seeding import SECTIONS, add_encounter

V1 = Expected(frozenset({1}))
ALBUTEROL = "Trial of albuterol inhaler."


async def _versions(db: Database, eid: str) -> list[tuple[int, str]]:
    async with db.session() as s:
        rows = await s.scalars(select(Note).where(Note.encounter_id == eid).order_by(Note.version))
        return [(n.version, n.status) for n in rows]


async def _status(db: Database, eid: str) -> str:
    async with db.session() as s:
        enc = await repo.get_encounter(s, eid)
    assert enc is not None
    return enc.status


def _flagged(text: str, term: str) -> dict[str, Any]:
    flag = {"id": "plan-0:0", "kind": "drug", "severity": "high", "term": term, "message": "m"}
    return {
        "id": "plan-0",
        "section": "plan",
        "index": 0,
        "text": text,
        "seqs": [],
        "links": "none",
        "flags": [flag],
    }


async def test_an_edit_is_a_new_version_and_a_note_in_review_becomes_ready(db: Database) -> None:
    eid = (await add_encounter(db, status="needs_review")).encounter_id
    async with db.session() as s:
        await repo.save_draft(s, eid, "dr-a", 1, SECTIONS)
    edit = {**SECTIONS, "plan": ["  Rest and   fluids. "]}
    async with db.session() as s:
        note = await notes.edit_note(s, eid, "dr-a", edit, V1)
    assert (note.version, note.kind, note.status, note.author) == (2, "edited", "draft", "dr-a")
    assert note.sections["plan"] == ["Rest and fluids."]
    assert await _status(db, eid) == EncounterStatus.READY
    async with db.session() as s:
        assert await repo.get_draft(s, eid, "dr-a") is None  # saved: no longer a draft


async def test_refusals_are_typed_and_store_nothing(db: Database) -> None:
    eid = (await add_encounter(db, status="ready")).encounter_id
    with pytest.raises(NoteChanged) as stale:
        async with db.session() as s:
            await notes.edit_note(s, eid, "dr-a", SECTIONS, Expected(frozenset({7})))
    assert stale.value.current == 1
    empty: dict[str, list[str]] = {k: [] for k in SECTIONS}
    with pytest.raises(EmptyNote):
        async with db.session() as s:
            await notes.edit_note(s, eid, "dr-a", empty, Expected(any_version=True))
    with pytest.raises(NotSignedYet):
        async with db.session() as s:
            await notes.add_addendum(s, eid, "dr-a", "Called back.", None)
    assert await _versions(db, eid) == [(1, NoteStatus.DRAFT)]

    async with db.session() as s:
        signed = await signing.sign_note(s, eid, "dr-a", V1, acknowledge_flags=False)
    assert (signed.note.version, signed.edited, signed.high_flags) == (1, False, 0)
    # Signed: locked against every change but an addendum.
    for refused, operation in (
        (NoteLocked, lambda s: notes.edit_note(s, eid, "dr-a", SECTIONS, V1)),
        (NoteLocked, lambda s: notes.save_draft(s, eid, "dr-a", 1, SECTIONS)),
        (NoteLocked, lambda s: signing.sign_note(s, eid, "dr-a", None, True)),
        (CannotRegenerate, lambda s: notes.request_note(s, eid, None, "gemini-2.5-flash")),
        (PurgeNeedsConfirmation, lambda s: purge_record(s, eid, signed_ok=False)),
    ):
        with pytest.raises(refused):
            async with db.session() as s:
                await operation(s)
    assert await _versions(db, eid) == [(1, NoteStatus.SIGNED)]
    assert await _status(db, eid) == EncounterStatus.SIGNED
    with pytest.raises(EncounterNotFound):
        async with db.session() as s:
            await purge_record(s, "no-such-visit", signed_ok=True)


async def test_high_flags_are_signed_only_when_acknowledged(db: Database) -> None:
    eid = (await add_encounter(db, status="needs_review")).encounter_id
    async with db.session() as s:
        await s.execute(
            update(Note)
            .where(Note.encounter_id == eid)
            .values(evidence=[_flagged(ALBUTEROL, "albuterol")])
        )
    with pytest.raises(FlagsNotAcknowledged) as plain:
        async with db.session() as s:
            await signing.sign_note(s, eid, "dr-a", V1, acknowledge_flags=False)
    assert plain.value.statements == []
    with pytest.raises(FlagsNotAcknowledged) as listed:
        async with db.session() as s:
            await signing.save_and_sign(s, eid, "dr-a", SECTIONS, V1, acknowledged=[])
    assert [row["text"] for row in listed.value.statements] == [ALBUTEROL]
    assert str(listed.value).startswith("1 high-severity flag(s) not acknowledged")
    assert await _versions(db, eid) == [(1, NoteStatus.DRAFT)]

    # Acknowledged by content, whatever its case and spacing.
    acked = [("trial of  ALBUTEROL inhaler.", "Albuterol")]
    async with db.session() as s:
        signed = await signing.save_and_sign(s, eid, "dr-a", SECTIONS, V1, acknowledged=acked)
    assert (signed.note.version, signed.edited, signed.high_flags) == (1, False, 1)
    assert await _status(db, eid) == EncounterStatus.SIGNED


async def test_a_note_is_written_again_only_when_done(db: Database) -> None:
    busy = (await add_encounter(db, status="recording", note=None)).encounter_id
    with pytest.raises(CannotRegenerate, match="not done yet"):
        async with db.session() as s:
            await notes.request_note(s, busy, None, "gemini-2.5-flash")
    eid = (await add_encounter(db, status="needs_review")).encounter_id
    async with db.session() as s:
        chosen = await notes.request_note(s, eid, None, "gemini-2.5-flash")
    assert chosen == "claude-sonnet-4-6"  # the encounter's own model
    assert await _status(db, eid) == EncounterStatus.NOTE_PENDING


def test_expected_versions_and_where_a_written_note_starts() -> None:
    assert V1.matches(1)
    assert not V1.matches(2)
    assert Expected(any_version=True).matches(9)
    assert not Expected().matches(1)
    assert notes.written_statuses("2 turns missing") == (
        EncounterStatus.NEEDS_REVIEW,
        NoteStatus.NEEDS_REVIEW,
    )
    assert notes.written_statuses(None) == (EncounterStatus.READY, NoteStatus.DRAFT)
