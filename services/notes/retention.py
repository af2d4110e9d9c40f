"""The retention policy for the record: how long transcripts, exported files and archived
audio stay after a note is signed. The signed note itself is the medical record and is
never deleted by policy (only an admin's purge removes it).

Applied by the notes service every ``retention_interval_s`` and on demand with
`medscribe notes retention`; each run reports counts, never content. Idempotent: a run
that stops half way is finished by the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.audio_archive import remove_archive
from services.notes.db.models import Note, Turn, utcnow
from services.notes.domain.purge import purge_exports
from services.notes.status import NoteStatus
from shared.logging import get_logger
from shared.waiting import sleep_or_stop

if TYPE_CHECKING:
    from services.notes.config import NotesSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    """Days after signing; None keeps forever (the default)."""

    transcript_days: int | None = None
    exports_days: int | None = None
    audio_days: int | None = None  # the FLAC archive in the export folder

    @property
    def active(self) -> bool:
        return any(
            d is not None for d in (self.transcript_days, self.exports_days, self.audio_days)
        )

    @classmethod
    def of(cls, settings: NotesSettings) -> RetentionPolicy:
        """The policy of the notes settings (MEDSCRIBE_RETENTION_*)."""
        return cls(
            settings.retention_transcript_days,
            settings.retention_exports_days,
            settings.retention_audio_days,
        )


@dataclass(frozen=True)
class RetentionReport:
    transcripts_removed: int = 0  # encounters whose turn text went
    turns_removed: int = 0
    export_folders_removed: int = 0
    audio_files_removed: int = 0


def _signed_before(cutoff: datetime) -> Any:
    """Encounter ids whose note was first signed before ``cutoff``."""
    return (
        select(Note.encounter_id)
        .where(Note.status == NoteStatus.SIGNED)
        .group_by(Note.encounter_id)
        .having(func.min(Note.signed_at) < cutoff)
    )


async def _expired_transcripts(session: AsyncSession, cutoff: datetime) -> list[str]:
    has_turns = exists().where(Turn.encounter_id == Note.encounter_id)
    stmt = _signed_before(cutoff).where(has_turns)
    return list((await session.scalars(stmt)).all())


async def _remove_signed_before(
    db: Any, cutoff: datetime, remove: Callable[[Path, str], int], export_dir: Path
) -> int:
    """``remove(export_dir, id)`` (off the loop) for each encounter signed before
    ``cutoff``; the sum of what it counted."""
    async with db.session() as session:
        expired = list((await session.scalars(_signed_before(cutoff))).all())
    removed = 0
    for eid in expired:
        removed += await asyncio.to_thread(remove, export_dir, eid)
    return removed


async def apply_retention(
    db: Any, export_dir: Path, policy: RetentionPolicy, now: datetime | None = None
) -> RetentionReport:
    now = now or utcnow()
    encounters = turns = folders = audio = 0
    if policy.transcript_days is not None:
        cutoff = now - timedelta(days=policy.transcript_days)
        async with db.session() as session:
            expired = await _expired_transcripts(session, cutoff)
        for eid in expired:  # one transaction each: a large backlog never holds long locks
            async with db.session() as session:
                result: Any = await session.execute(delete(Turn).where(Turn.encounter_id == eid))
            turns += int(result.rowcount or 0)
            encounters += 1
    if policy.exports_days is not None:
        cutoff = now - timedelta(days=policy.exports_days)
        folders = await _remove_signed_before(db, cutoff, purge_exports, export_dir)
    if policy.audio_days is not None:
        cutoff = now - timedelta(days=policy.audio_days)
        audio = await _remove_signed_before(db, cutoff, remove_archive, export_dir)
    report = RetentionReport(encounters, turns, folders, audio)
    log.info(
        "retention_applied",
        transcripts_removed=report.transcripts_removed,
        turns_removed=report.turns_removed,
        export_folders_removed=report.export_folders_removed,
        audio_files_removed=report.audio_files_removed,
    )
    return report


async def run_retention(
    db: Any, export_dir: Path, policy: RetentionPolicy, interval_s: float, stop: asyncio.Event
) -> None:
    """Apply the policy now and then every ``interval_s`` until ``stop``."""
    while not stop.is_set():
        try:
            await apply_retention(db, export_dir, policy)
        except Exception as err:  # noqa: BLE001 - the next run retries; never stop the service
            log.warning("retention_failed", error=type(err).__name__)
        await sleep_or_stop(stop, interval_s)
