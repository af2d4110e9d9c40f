"""Every read and write of the clinical record, for the consumer and the staff API.

Functions take an ``AsyncSession`` inside a transaction (``Database.session()``); they
never commit. Writes are idempotent on their natural keys (encounter id, ``(encounter_id,
seq)``, ``(encounter_id, version)``) because stream delivery is at-least-once, and the
control and turn entries of one encounter may arrive in any order: a row that does not
exist yet is created as a placeholder, never is an entry dropped.

Note jobs (``jobs.py``), encounter counts (``listing.py``) and the audit log and API
tokens (``access.py``) live in their own modules and are re-exported here, so callers use
``repo.<function>`` for everything. The staff API's listings (filters, search, pages) are
``services/notes/api/queries.py``: one listing each, no second copy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.db.access import (
    add_audit,
    create_token,
    find_token_by_hash,
    find_token_by_name,
    list_tokens,
    revoke_token,
    set_password,
    touch_token,
)
from services.notes.db.common import (
    InvalidTransition,
    LeaseLost,
    NotFound,
    NotSigned,
    VersionConflict,
    dialect_insert,
    missing_seqs,
    turn_seqs,
)
from services.notes.db.drafts import drop_drafts, get_draft, save_draft
from services.notes.db.jobs import (
    TRANSCRIPTION_TIMEOUT,
    NoteCandidate,
    claim_note_job,
    complete_note_job,
    completes_pending,
    defer_note_job,
    expire_transcriptions,
    finish_note_job,
    give_up_note_job,
    has_expected_turns,
    late_turn_arrived,
    pending_note_jobs,
    release_note_job,
    renew_note_lease,
    request_note,
)
from services.notes.db.listing import all_encounter_ids, count_by_status
from services.notes.db.models import SYSTEM_ACTOR, Encounter, RoomAssignment, Turn, utcnow
from services.notes.db.versions import (
    add_addendum,
    add_note_version,
    current_note,
    note_history,
    sign_note,
)
from services.notes.status import AWAITING_SIGNATURE, HAS_NOTE, EncounterStatus
from shared.contracts import (
    EditedTurn,
    EncounterFailed,
    EncounterStarted,
    EncounterStopped,
    EncounterTranscribed,
    flag_dicts,
)

__all__ = [  # the re-exported names (everything else here is defined in this module)
    "add_note_version", "current_note", "note_history", "sign_note", "finish_note_job",
    "add_addendum", "NotSigned", "drop_drafts", "get_draft", "save_draft",
    "LeaseLost",
    "TRANSCRIPTION_TIMEOUT", "InvalidTransition", "NoteCandidate",
    "NotFound", "all_encounter_ids", "count_by_status",
    "VersionConflict", "add_audit", "claim_note_job", "complete_note_job", "create_token",
    "defer_note_job", "expire_transcriptions", "find_token_by_hash", "late_turn_arrived",
    "completes_pending", "give_up_note_job", "has_expected_turns",
    "list_tokens", "missing_seqs", "pending_note_jobs", "release_note_job",
    "renew_note_lease", "request_note", "revoke_token", "touch_token",
    "find_token_by_name", "set_password", "turn_seqs",
]  # fmt: skip


# --- encounters: control events ----------------------------------------------------------


async def ensure_encounter(session: AsyncSession, encounter_id: str) -> None:
    """Create a placeholder row if the encounter is not known yet (idempotent)."""
    stmt = dialect_insert(session, Encounter).values(
        id=encounter_id,
        status=EncounterStatus.RECORDING,
        started=False,
        started_at=utcnow(),
        updated_at=utcnow(),
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))


async def _locked(session: AsyncSession, encounter_id: str) -> Encounter:
    await ensure_encounter(session, encounter_id)
    row = await session.get(Encounter, encounter_id, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


async def upsert_encounter_started(session: AsyncSession, msg: EncounterStarted) -> None:
    """Fill in room, clinician and models; a duplicate Started changes nothing."""
    now = utcnow()
    values: dict[str, Any] = {
        "room": msg.room,
        "clinician": msg.clinician,
        "llm_model": msg.llm_model,
        "speech_model": msg.stt.speech_model[:50],
        "sample_rate": msg.stt.sample_rate,
        "started": True,
        "started_at": msg.started_at,
        "updated_at": now,
    }
    stmt = dialect_insert(session, Encounter).values(
        id=msg.encounter_id, status=EncounterStatus.RECORDING, **values
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"], set_=values, where=Encounter.started.is_(False)
    )
    result: Any = await session.execute(stmt)
    if result.rowcount:  # the first Started of this encounter: its patient, if one is due
        await attach_room_assignment(session, msg.encounter_id, msg.room)


async def attach_room_assignment(session: AsyncSession, encounter_id: str, room: str) -> bool:
    """Give the encounter the oldest unused patient the front desk assigned to its room.

    The room's clinician (from the capture agent) wins over the assignment's; an encounter
    recorded without one gets the assignment's clinician. True if one was attached."""
    stmt = (
        select(RoomAssignment)
        .where(RoomAssignment.room == room, RoomAssignment.encounter_id.is_(None))
        .order_by(RoomAssignment.id)
        .limit(1)
        .with_for_update()
    )
    assignment = (await session.scalars(stmt)).first()
    if assignment is None:
        return False
    enc = await session.get(Encounter, encounter_id, with_for_update=True, populate_existing=True)
    if enc is None or enc.patient_name is not None:
        return False
    enc.patient_name = assignment.patient_name
    enc.patient_mrn = assignment.patient_mrn
    enc.patient_dob = assignment.patient_dob
    enc.visit_reason = assignment.visit_reason
    enc.clinician = enc.clinician or assignment.clinician
    assignment.encounter_id = encounter_id
    assignment.used_at = utcnow()
    return True


async def mark_stopped(session: AsyncSession, msg: EncounterStopped) -> None:
    enc = await _locked(session, msg.encounter_id)
    if enc.stopped_at is None:
        enc.stopped_at = msg.stopped_at
    enc.last_frame_seq = msg.last_frame_seq
    if enc.status == EncounterStatus.RECORDING:
        enc.status = EncounterStatus.TRANSCRIBING
    enc.updated_at = utcnow()


async def mark_transcribed(session: AsyncSession, msg: EncounterTranscribed) -> None:
    """Record the turn count and costs; the encounter now waits for its note."""
    enc = await _locked(session, msg.encounter_id)
    now = utcnow()
    enc.expected_turns = msg.turn_count
    enc.audio_ms = msg.audio_ms
    if msg.speaker_revisions:
        await _revise_speakers(session, enc, msg)
    if msg.stt_sessions:
        enc.stt_audio_s = sum(s.audio_duration_s for s in msg.stt_sessions)
        enc.stt_session_s = sum(s.session_duration_s for s in msg.stt_sessions)
    if enc.transcribed_at is None:
        enc.transcribed_at = now
    if enc.stopped_at is None:
        enc.stopped_at = now
    # From FAILED too: a later STT pass succeeded.
    if enc.status in (
        EncounterStatus.RECORDING,
        EncounterStatus.TRANSCRIBING,
        EncounterStatus.FAILED,
    ):
        enc.status = EncounterStatus.NOTE_PENDING
        enc.note_next_try_at = None
        enc.note_attempts = 0
    enc.updated_at = now
    if enc.failure_reason == TRANSCRIPTION_TIMEOUT and enc.status in AWAITING_SIGNATURE:
        # The note was written without knowing how many turns there were: now we know.
        enc.failure_stage = enc.failure_reason = None
        missing = missing_seqs(msg.turn_count, await turn_seqs(session, enc.id))
        enc.missing_seqs = missing or None
        current = await current_note(session, enc.id)
        if not missing and current is not None and current.author == SYSTEM_ACTOR:
            await request_note(session, enc.id)


async def _revise_speakers(
    session: AsyncSession, enc: Encounter, msg: EncounterTranscribed
) -> None:
    """Labels the STT service re-decided: kept on the encounter (for turns still on their
    way through the editor) and written into the turns already stored."""
    revised = {str(r.seq): r.speaker for r in msg.speaker_revisions}
    enc.speaker_revisions = {**(enc.speaker_revisions or {}), **revised}
    for r in msg.speaker_revisions:
        await session.execute(
            update(Turn)
            .where(Turn.encounter_id == enc.id, Turn.seq == r.seq)
            .values(speaker=r.speaker)
        )


async def mark_failed(session: AsyncSession, msg: EncounterFailed) -> None:
    """Keep everything stored; show the stage and reason. A written note stays."""
    enc = await _locked(session, msg.encounter_id)
    if enc.status == EncounterStatus.PURGED:
        return
    enc.failure_stage = msg.stage
    enc.failure_reason = msg.reason
    if enc.status not in HAS_NOTE:  # control events never move it back
        enc.status = EncounterStatus.FAILED
        enc.note_lease_owner = None
        enc.note_lease_until = None
    enc.updated_at = utcnow()


async def get_encounter(session: AsyncSession, encounter_id: str) -> Encounter | None:
    return await session.get(Encounter, encounter_id, populate_existing=True)


async def set_speaker_roles(
    session: AsyncSession, encounter_id: str, roles: dict[str, str]
) -> None:
    enc = await session.get(Encounter, encounter_id, with_for_update=True)
    if enc is None:
        raise NotFound(encounter_id)
    enc.speaker_roles = dict(roles)
    enc.updated_at = utcnow()


# --- turns ---------------------------------------------------------------------------------


def turn_quality(turn: EditedTurn) -> int:
    """Formatted beats unformatted; an LLM edit beats the fallback (original text)."""
    return (2 if turn.formatted else 0) + (0 if turn.edit_status == "fallback" else 1)


async def upsert_turn(session: AsyncSession, turn: EditedTurn) -> bool:
    """Store one turn; a later version of at least the same quality replaces it in place.

    Returns False when the stored version was better, or the encounter's content was purged
    (a late or replayed entry must not bring purged text back).
    """
    await ensure_encounter(session, turn.encounter_id)
    status, revisions = (
        await session.execute(
            select(Encounter.status, Encounter.speaker_revisions).where(
                Encounter.id == turn.encounter_id
            )
        )
    ).one()
    return await _write_turn(session, turn, status, revisions)


@dataclass(frozen=True)
class TurnStored:
    """What storing one edited turn did (:func:`store_turn`)."""

    changed: bool  # stored or replaced (False: the stored version was better, or purged)
    reopened: bool  # it closed the gap its note was written with: the note is queued again
    completes: bool  # the encounter waits for its note and now has every expected turn


async def store_turn(session: AsyncSession, turn: EditedTurn) -> TurnStored:
    """:func:`upsert_turn`, then :func:`late_turn_arrived` and :func:`completes_pending`
    when the turn changed something, in the caller's transaction.

    The encounter row is read once, locked (PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
    already holds the write lock), before the turn is written: no other transaction can
    change it before this one commits, so what it says decides which of the two checks can
    apply, and the checks that cannot are not run. A turn of a visit still recording costs
    two statements (this read and the upsert) instead of four.
    """
    eid = turn.encounter_id
    read = select(
        Encounter.status,
        Encounter.speaker_revisions,
        Encounter.missing_seqs,
        Encounter.expected_turns,
    ).where(Encounter.id == eid)
    row = (await session.execute(read.with_for_update())).one_or_none()
    if row is None:  # the first entry of this encounter: its placeholder row
        await ensure_encounter(session, eid)
        row = (await session.execute(read.with_for_update())).one()
    status, revisions, missing, expected = row
    if not await _write_turn(session, turn, status, revisions):
        return TurnStored(changed=False, reopened=False, completes=False)
    # late_turn_arrived returns False (and changes nothing) unless both hold
    reopened = bool(missing) and status in AWAITING_SIGNATURE
    reopened = reopened and await late_turn_arrived(session, eid)
    if reopened:  # queued again: its count decides as for any pending note
        return TurnStored(True, True, await completes_pending(session, eid))
    if status != EncounterStatus.NOTE_PENDING or expected is None:
        return TurnStored(changed=True, reopened=False, completes=False)
    return TurnStored(True, False, await has_expected_turns(session, eid, expected))


async def _write_turn(
    session: AsyncSession,
    turn: EditedTurn,
    status: str,
    revisions: dict[str, str | None] | None,
) -> bool:
    """The upsert of :func:`upsert_turn`, given the encounter's status and revisions."""
    if status == EncounterStatus.PURGED:
        return False
    speaker = turn.speaker
    if revisions and str(turn.seq) in revisions:  # revised before this turn got here
        speaker = revisions[str(turn.seq)]
    now = utcnow()
    values: dict[str, Any] = {
        # Columns are bounded where the contract is not: clip rather than lose the turn.
        "stt_session_id": turn.stt_session_id[:100],
        "turn_order": turn.turn_order,
        "original_text": turn.text,
        "edited_text": turn.edited_text,
        "edit_status": turn.edit_status,
        "edit_reason": turn.edit_reason,
        "llm_model": turn.llm_model[:100],
        "flags": flag_dicts(turn.flags),
        "speaker": speaker[:20] if speaker else None,
        "start_ms": turn.start_ms,
        "end_ms": turn.end_ms,
        "formatted": turn.formatted,
        "quality": turn_quality(turn),
        "updated_at": now,
    }
    stmt = dialect_insert(session, Turn).values(
        encounter_id=turn.encounter_id, seq=turn.seq, created_at=now, **values
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["encounter_id", "seq"],
        set_=values,
        where=Turn.quality <= stmt.excluded.quality,
    )
    result: Any = await session.execute(stmt)
    return bool(result.rowcount)


async def list_turns(session: AsyncSession, encounter_id: str) -> list[Turn]:
    stmt = select(Turn).where(Turn.encounter_id == encounter_id).order_by(Turn.seq)
    return list((await session.scalars(stmt)).all())
