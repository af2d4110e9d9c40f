"""Purging one encounter's patient data on request (`medscribe notes purge`, the admin API).

The content goes — turns, every note version and its evidence, after-visit summaries, the
patient's name, MRN, date of birth and reason for visit (on the encounter and on the room
assignment that brought them), the exported files, and the encounter's keys in Redis
(audio, partials, per-encounter state) — while the encounter row (room, clinician id,
times, status ``purged``) and every audit row stay, so the record shows
that something existed and who removed it. A signed note is part of the medical record:
purging it needs an explicit flag.

Crash-safe by order and idempotence: the database is changed first, in one transaction
(status ``purged`` also stops late or replayed turns from bringing text back), then the
files, then Redis. Running the purge again on a purged encounter redoes the last two.
"""

from __future__ import annotations

import shutil
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.db.models import (
    AfterVisitSummary,
    Encounter,
    Note,
    NoteDraft,
    RoomAssignment,
    Turn,
    utcnow,
)
from services.notes.domain.errors import EncounterNotFound, PurgeNeedsConfirmation
from services.notes.exporter import safe_dirname
from services.notes.status import EncounterStatus, NoteStatus
from shared.contracts import StreamNames
from shared.release import release_encounter


@dataclass(frozen=True)
class PurgeCounts:
    """What a purge removed (counts only: a report never names content)."""

    turns: int = 0
    note_versions: int = 0
    export_folders: int = 0
    redis_keys: int = 0


async def purge_record(session: AsyncSession, encounter_id: str, *, signed_ok: bool) -> PurgeCounts:
    """Remove the encounter's content from the database (inside the caller's transaction)."""
    enc = await session.get(Encounter, encounter_id, with_for_update=True, populate_existing=True)
    if enc is None:
        raise EncounterNotFound("no such encounter")
    signed = enc.status == EncounterStatus.SIGNED or bool(
        await session.scalar(
            select(func.count())
            .select_from(Note)
            .where(Note.encounter_id == encounter_id, Note.status == NoteStatus.SIGNED)
        )
    )
    if signed and not signed_ok:
        raise PurgeNeedsConfirmation(
            "the encounter has a signed note (part of the medical record): confirm to purge it"
        )
    turns: Any = await session.execute(delete(Turn).where(Turn.encounter_id == encounter_id))
    notes: Any = await session.execute(delete(Note).where(Note.encounter_id == encounter_id))
    # Unsaved edits and the patient's after-visit summaries are note text too.
    await session.execute(delete(NoteDraft).where(NoteDraft.encounter_id == encounter_id))
    await session.execute(
        delete(AfterVisitSummary).where(AfterVisitSummary.encounter_id == encounter_id)
    )
    # Who the visit was with is patient data too: the row keeps room, clinician and times.
    enc.patient_name = enc.patient_mrn = enc.visit_reason = None
    enc.patient_dob = None
    await session.execute(
        update(RoomAssignment)
        .where(RoomAssignment.encounter_id == encounter_id)
        .values(patient_name="", patient_mrn=None, patient_dob=None, visit_reason=None)
    )
    enc.status = EncounterStatus.PURGED
    enc.speaker_roles = None
    enc.missing_seqs = None
    enc.note_lease_owner = enc.note_lease_until = enc.note_next_try_at = None
    enc.note_error = None
    enc.updated_at = utcnow()
    return PurgeCounts(turns=int(turns.rowcount or 0), note_versions=int(notes.rowcount or 0))


def purge_exports(export_dir: Path, encounter_id: str) -> int:
    """Delete the encounter's export folder; 1 if there was one."""
    folder = export_dir / safe_dirname(encounter_id)
    if not folder.exists():
        return 0
    shutil.rmtree(folder)
    return 1


async def purge_redis(redis: Any, names: StreamNames, encounter_id: str) -> int:
    """Delete every key of this encounter (the same release the lifecycle job runs)."""
    return await release_encounter(redis, names, encounter_id)


async def purge_encounter(
    transaction: AbstractAsyncContextManager[AsyncSession],
    redis: Any,
    names: StreamNames,
    export_dir: Path,
    encounter_id: str,
    *,
    signed_ok: bool,
) -> PurgeCounts:
    """The whole purge, in the one safe order (the API route and the CLI both run this).

    ``transaction`` yields the session of the caller's transaction (with its audit row) and
    commits when it ends; only after that commit do the export folder (audio archive
    included) and the Redis keys go. A failed commit so loses nothing; a failure after it
    leaves the purge recorded (status ``purged``), and running it again removes the rest.
    """
    async with transaction as session:
        counts = await purge_record(session, encounter_id, signed_ok=signed_ok)
    return replace(
        counts,
        export_folders=purge_exports(export_dir, encounter_id),
        redis_keys=await purge_redis(redis, names, encounter_id),
    )
