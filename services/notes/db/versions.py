"""Note versions: the current note, its history, new versions, signing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.db.common import NotFound, NotSigned, insert_unique
from services.notes.db.models import Encounter, Note, utcnow
from services.notes.status import EncounterStatus, NoteStatus


async def current_note(session: AsyncSession, encounter_id: str) -> Note | None:
    stmt = (
        select(Note).where(Note.encounter_id == encounter_id).order_by(Note.version.desc()).limit(1)
    )
    return (await session.scalars(stmt)).first()


async def note_history(session: AsyncSession, encounter_id: str) -> list[Note]:
    stmt = select(Note).where(Note.encounter_id == encounter_id).order_by(Note.version)
    return list((await session.scalars(stmt)).all())


async def add_note_version(
    session: AsyncSession,
    encounter_id: str,
    *,
    kind: str,
    status: str,
    text: str,
    sections: dict[str, list[str]],
    model: str | None,
    author: str | None,
    problem: str | None = None,
    missing: list[int] | None = None,
    version: int | None = None,
    evidence: list[dict[str, Any]] | None = None,
) -> Note:
    """Insert the next version (or ``version``); VersionConflict if it already exists."""
    if version is None:
        top = await session.scalar(
            select(func.max(Note.version)).where(Note.encounter_id == encounter_id)
        )
        version = (top or 0) + 1
    note = Note(
        encounter_id=encounter_id,
        version=version,
        kind=kind,
        status=status,
        text=text,
        sections=sections,
        model=model,
        author=author,
        problem=problem,
        missing_seqs=missing or None,
        evidence=evidence,
        created_at=utcnow(),
    )
    await insert_unique(session, note, f"{encounter_id} v{version}")
    return note


async def sign_note(session: AsyncSession, encounter_id: str, version: int, signer: str) -> Note:
    """Sign one version (normally the current one); the encounter becomes ``signed``."""
    note = await session.scalar(
        select(Note)
        .where(Note.encounter_id == encounter_id, Note.version == version)
        .with_for_update()
    )
    if note is None:
        raise NotFound(f"{encounter_id} v{version}")
    if note.status == NoteStatus.SIGNED:
        return note
    now = utcnow()
    note.status, note.signed_by, note.signed_at = NoteStatus.SIGNED, signer, now
    enc = await session.get(Encounter, encounter_id, with_for_update=True)
    assert enc is not None
    enc.status, enc.updated_at = EncounterStatus.SIGNED, now
    return note


def addendum_block(at: datetime, author: str, text: str) -> str:
    """How one addendum reads below the signed text: dated, attributed, never merged."""
    return f"Addendum {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC by {author}:\n{text}"


async def add_addendum(session: AsyncSession, encounter_id: str, author: str, text: str) -> Note:
    """Append dated text to the signed note as a new version; the signed text stays as is.

    The new version keeps the signature it amends (signer and time) and lists every
    addendum so far; NotSigned if the current version is not signed.
    """
    enc = await session.get(Encounter, encounter_id, with_for_update=True)
    base = await current_note(session, encounter_id)
    if enc is None or base is None:
        raise NotFound(encounter_id)
    if base.signed_at is None:
        raise NotSigned(encounter_id)
    now = utcnow()
    addenda = [*(base.addenda or []), {"at": now.isoformat(), "author": author, "text": text}]
    note = await add_note_version(
        session,
        encounter_id,
        version=base.version + 1,
        kind="addendum",
        status=NoteStatus.SIGNED,
        text=base.text.rstrip("\n") + "\n\n" + addendum_block(now, author, text) + "\n",
        sections=base.sections,
        model=base.model,
        author=author,
        problem=base.problem,
        missing=base.missing_seqs,
        evidence=base.evidence,
    )
    note.signed_by, note.signed_at, note.addenda = base.signed_by, base.signed_at, addenda
    enc.amended_at = enc.updated_at = now
    return note
