"""Note jobs: which encounters are due for a note, and who writes each (several replicas).

A job is taken with a compare-and-set lease on the encounter row (a single UPDATE, atomic
on SQLite and PostgreSQL); the note is committed only while the lease is still held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.db.common import (
    InvalidTransition,
    LeaseLost,
    NotFound,
    missing_seqs,
    turn_seqs,
)
from services.notes.db.models import SYSTEM_ACTOR, Encounter, Note, Turn, utcnow
from services.notes.db.versions import add_note_version
from services.notes.status import AWAITING_SIGNATURE, EncounterStatus

TRANSCRIPTION_TIMEOUT = "transcription_timeout"


async def expire_transcriptions(
    session: AsyncSession, now: datetime, timeout_s: float
) -> list[str]:
    """Encounters stopped longer ago than ``timeout_s`` that never got EncounterTranscribed
    (the STT side is gone for good): queue their note from the turns received, flagged."""
    stmt = (
        select(Encounter)
        .where(
            Encounter.status == EncounterStatus.TRANSCRIBING,
            Encounter.stopped_at < now - timedelta(seconds=timeout_s),
        )
        .with_for_update(skip_locked=True)
    )
    expired = list((await session.scalars(stmt)).all())
    for enc in expired:
        enc.status = EncounterStatus.NOTE_PENDING
        enc.transcribed_at = now
        enc.failure_stage, enc.failure_reason = "stt", TRANSCRIPTION_TIMEOUT
        enc.updated_at = now
    return [e.id for e in expired]


@dataclass(frozen=True)
class NoteCandidate:
    encounter_id: str
    expected_turns: int | None
    missing: tuple[int, ...]
    complete: bool
    grace_expired: bool

    @property
    def due(self) -> bool:
        return self.complete or self.grace_expired


async def pending_note_jobs(
    session: AsyncSession, now: datetime, grace_s: float, limit: int = 20
) -> list[NoteCandidate]:
    """Encounters waiting for a note whose turns are all in or whose grace period ended.

    Derived from the database alone, so a restarted replica picks up where it left off.
    """
    stmt = (
        select(Encounter)
        .where(
            Encounter.status == EncounterStatus.NOTE_PENDING,
            or_(Encounter.note_lease_until.is_(None), Encounter.note_lease_until < now),
            or_(Encounter.note_next_try_at.is_(None), Encounter.note_next_try_at <= now),
        )
        .order_by(Encounter.transcribed_at)
    )
    out: list[NoteCandidate] = []
    for enc in (await session.scalars(stmt)).all():
        stats = await session.execute(
            select(func.count(), func.max(Turn.updated_at)).where(
                Turn.encounter_id == enc.id,
                Turn.seq < (enc.expected_turns if enc.expected_turns is not None else 2**31 - 1),
            )
        )
        have, last_turn = stats.one()
        complete = enc.expected_turns is None or have >= enc.expected_turns
        # Grace runs from the last sign of progress: turns still trickling in from a
        # backlogged editor postpone a partial note.
        start = enc.transcribed_at or enc.updated_at
        since = max(start, last_turn) if last_turn is not None else start
        expired = since + timedelta(seconds=grace_s) <= now
        # A complete transcript still waits for EncounterStarted (it carries the visit's
        # model and clinician; control and turns are separate streams) until the grace ends.
        if not (expired or (complete and enc.started)):
            continue
        missing = (
            [] if complete else missing_seqs(enc.expected_turns, await turn_seqs(session, enc.id))
        )
        out.append(NoteCandidate(enc.id, enc.expected_turns, tuple(missing), not missing, expired))
        if len(out) >= limit:
            break
    return out


def _held(encounter_id: str, owner: str) -> tuple[Any, ...]:
    """Where ``owner`` holds the note lease of the encounter."""
    return (Encounter.id == encounter_id, Encounter.note_lease_owner == owner)


async def _update_one(session: AsyncSession, where: tuple[Any, ...], **values: Any) -> bool:
    """Update the encounter rows ``where`` holds; True when exactly one changed."""
    result: Any = await session.execute(
        update(Encounter)
        .where(*where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


async def claim_note_job(
    session: AsyncSession, encounter_id: str, owner: str, now: datetime, lease_s: float
) -> bool:
    """Compare-and-set lease: True for exactly one replica until the lease runs out."""
    return await _update_one(
        session,
        (
            Encounter.id == encounter_id,
            Encounter.status == EncounterStatus.NOTE_PENDING,
            or_(Encounter.note_lease_until.is_(None), Encounter.note_lease_until < now),
        ),
        note_lease_owner=owner,
        note_lease_until=now + timedelta(seconds=lease_s),
    )


async def renew_note_lease(
    session: AsyncSession, encounter_id: str, owner: str, now: datetime, lease_s: float
) -> bool:
    return await _update_one(
        session, _held(encounter_id, owner), note_lease_until=now + timedelta(seconds=lease_s)
    )


async def defer_note_job(
    session: AsyncSession, encounter_id: str, owner: str, retry_at: datetime, error: str
) -> None:
    """Give the job back (gateway down): retried by any replica from ``retry_at``."""
    await _update_one(
        session,
        _held(encounter_id, owner),
        note_lease_owner=None,
        note_lease_until=None,
        note_next_try_at=retry_at,
        note_attempts=Encounter.note_attempts + 1,
        note_error=error[:100],
        updated_at=utcnow(),
    )


NOTES_STAGE = "notes"


async def give_up_note_job(
    session: AsyncSession, encounter_id: str, owner: str, reason: str, error: str
) -> bool:
    """The note cannot be written (gateway rejected it, or attempts are spent): the
    encounter waits for a person (``needs_review``, reason shown) instead of retrying for
    ever. Regenerating it (API/console) queues it again. False if the lease was lost."""
    return await _update_one(
        session,
        (*_held(encounter_id, owner), Encounter.status == EncounterStatus.NOTE_PENDING),
        status=EncounterStatus.NEEDS_REVIEW,
        note_lease_owner=None,
        note_lease_until=None,
        note_next_try_at=None,
        note_attempts=Encounter.note_attempts + 1,
        note_error=error[:100],
        failure_stage=NOTES_STAGE,
        failure_reason=reason[:500],
        updated_at=utcnow(),
    )


async def release_note_job(session: AsyncSession, encounter_id: str, owner: str) -> None:
    """Hand a job back untouched (shutdown): any replica may take it right away."""
    await _update_one(
        session, _held(encounter_id, owner), note_lease_owner=None, note_lease_until=None
    )


async def complete_note_job(
    session: AsyncSession,
    encounter_id: str,
    owner: str,
    *,
    status: str,
    missing: list[int],
) -> bool:
    """Finish the job if this replica still holds the lease; False means another took over."""
    now = utcnow()
    held = await _update_one(
        session,
        (*_held(encounter_id, owner), Encounter.status == EncounterStatus.NOTE_PENDING),
        status=status,
        note_at=now,
        note_lease_owner=None,
        note_lease_until=None,
        note_next_try_at=None,
        note_attempts=0,
        note_error=None,
        missing_seqs=missing or None,
        updated_at=now,
    )
    if not held:
        return False
    await _update_one(  # a note that could not be written earlier now is
        session,
        (Encounter.id == encounter_id, Encounter.failure_stage == NOTES_STAGE),
        failure_stage=None,
        failure_reason=None,
    )
    return True


async def finish_note_job(
    session: AsyncSession,
    encounter_id: str,
    owner: str,
    *,
    status: str,
    missing: list[int],
    kind: str,
    note_status: str,
    text: str,
    sections: dict[str, list[str]],
    model: str | None,
    problem: str | None,
    evidence: list[dict[str, Any]] | None = None,
) -> Note:
    """Store the written note and close the job, in the caller's transaction.

    Raises LeaseLost (nothing stored) when another replica took the job meanwhile, and
    VersionConflict when a person stored a version at the same moment (try again).
    """
    if not await complete_note_job(session, encounter_id, owner, status=status, missing=missing):
        raise LeaseLost(encounter_id)
    return await add_note_version(
        session,
        encounter_id,
        kind=kind,
        status=note_status,
        text=text,
        sections=sections,
        model=model,
        author=SYSTEM_ACTOR,
        problem=problem[:300] if problem else None,
        missing=missing,
        evidence=evidence,
    )


async def request_note(session: AsyncSession, encounter_id: str) -> None:
    """Ask for a (re)generated note; the scheduler writes it as the next version."""
    enc = await session.get(Encounter, encounter_id, with_for_update=True)
    if enc is None:
        raise NotFound(encounter_id)
    if enc.status == EncounterStatus.SIGNED:
        raise InvalidTransition("a signed note cannot be regenerated; add an addendum")
    if enc.status == EncounterStatus.PURGED:
        raise InvalidTransition("the encounter's content was purged")
    if enc.status in (EncounterStatus.RECORDING, EncounterStatus.TRANSCRIBING):
        raise InvalidTransition("the encounter is still being transcribed")
    if enc.status == EncounterStatus.NOTE_PENDING:
        return  # already queued (maybe being written right now): never a second writer
    enc.status = EncounterStatus.NOTE_PENDING
    enc.note_lease_owner = enc.note_lease_until = enc.note_next_try_at = None
    enc.note_attempts = 0
    # The note is written from what is stored now: no second grace period.
    enc.transcribed_at = enc.transcribed_at or utcnow()
    enc.updated_at = utcnow()


async def completes_pending(session: AsyncSession, encounter_id: str) -> bool:
    """True when the encounter waits for its note and every expected turn is stored (the
    turn just stored may have been the last one it waited for)."""
    enc = await session.get(Encounter, encounter_id)
    if enc is None or enc.status != EncounterStatus.NOTE_PENDING or enc.expected_turns is None:
        return False
    return await has_expected_turns(session, encounter_id, enc.expected_turns)


async def has_expected_turns(session: AsyncSession, encounter_id: str, expected: int) -> bool:
    """True when every one of the ``expected`` turns (seqs below it) is stored."""
    have = await session.scalar(
        select(func.count()).where(Turn.encounter_id == encounter_id, Turn.seq < expected)
    )
    return (have or 0) >= expected


async def late_turn_arrived(session: AsyncSession, encounter_id: str) -> bool:
    """A turn came after its encounter's note was written without it.

    The encounter's recorded gap shrinks. When the gap is closed and the current note is
    still the system's own unsigned draft written because of that gap, the note is queued
    again (a new version; the old one stays in the history). True when queued.
    """
    enc = await session.get(Encounter, encounter_id, with_for_update=True)
    if enc is None or not enc.missing_seqs or enc.status not in AWAITING_SIGNATURE:
        return False
    remaining = missing_seqs(enc.expected_turns, await turn_seqs(session, encounter_id))
    if remaining == enc.missing_seqs:
        return False
    enc.missing_seqs = remaining or None
    enc.updated_at = utcnow()
    if remaining:
        return False
    current = (
        await session.scalars(
            select(Note).where(Note.encounter_id == encounter_id).order_by(Note.version.desc())
        )
    ).first()
    if current is None or current.author != SYSTEM_ACTOR or not current.missing_seqs:
        return False  # a person has edited or signed it: their version stands
    await request_note(session, encounter_id)
    return True
