"""A person's changes to the note: edit (a new version), unsaved draft, addendum to a
signed note, a request to write it again; and the status a written note starts in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.db import repo
from services.notes.db.models import Note, NoteDraft, utcnow
from services.notes.domain.errors import (
    CannotRegenerate,
    EmptyNote,
    EncounterNotFound,
    NoNote,
    NoteChanged,
    NoteLocked,
    NotSignedYet,
)
from services.notes.evidence import note_evidence
from services.notes.soap_format import render
from services.notes.status import EncounterStatus, NoteStatus

NO_NOTE = "this encounter has no note yet"
CHANGED = "the note changed since you read it; get it again and reapply your edit"
LOCKED = "the note is signed and locked; add an addendum instead"
EMPTY = "the note is empty"
NO_ENCOUNTER = "no such encounter"
# Encounters whose note may be written again on request.
REGENERATABLE = frozenset(
    {EncounterStatus.NEEDS_REVIEW, EncounterStatus.READY, EncounterStatus.FAILED}
)


@dataclass(frozen=True)
class Expected:
    """The version(s) the caller read and is changing (the API's If-Match), or any."""

    versions: frozenset[int] = frozenset()
    any_version: bool = False

    def matches(self, version: int) -> bool:
        return self.any_version or version in self.versions


def single_spaced(sections: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Each statement on one line, single-spaced."""
    return {k: [" ".join(item.split()) for item in v] for k, v in sections.items()}


def cleaned(sections: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The sections single-spaced; EmptyNote when no section has a statement."""
    out = single_spaced(sections)
    if not any(out.values()):
        raise EmptyNote(EMPTY)
    return out


async def editable_base(
    session: AsyncSession, encounter_id: str, expected: Expected, locked: str = LOCKED
) -> Note:
    """The current version, if the caller may change it: it exists, is not signed (else
    NoteLocked with the ``locked`` sentence) and is the one the caller read."""
    base = await repo.current_note(session, encounter_id)
    if base is None:
        raise NoNote(NO_NOTE)
    if base.signed_at is not None:
        raise NoteLocked(locked)
    if not expected.matches(base.version):
        raise NoteChanged(CHANGED, base.version)
    return base


async def save_version(
    session: AsyncSession, base: Note, author: str, sections: dict[str, list[str]]
) -> Note:
    """The person's text as the version after ``base``, checked like the model's (its
    statements linked to the turns). NoteChanged if someone saved that version first."""
    turns = await repo.list_turns(session, base.encounter_id)
    try:
        return await repo.add_note_version(
            session,
            base.encounter_id,
            # Version base+1 exactly: a concurrent edit of the same base conflicts.
            version=base.version + 1,
            kind="edited",
            status=NoteStatus.DRAFT,
            text=render(sections),
            sections=sections,
            model=None,
            author=author,
            missing=base.missing_seqs,
            evidence=await note_evidence(sections, turns),
        )
    except repo.VersionConflict:
        raise NoteChanged(CHANGED) from None


async def edit_note(
    session: AsyncSession,
    encounter_id: str,
    author: str,
    sections: Mapping[str, Sequence[str]],
    expected: Expected,
) -> Note:
    """Store the person's edit as a new version; a note waiting for review is then
    ready to sign (the clinician has read and corrected it)."""
    base = await editable_base(session, encounter_id, expected)
    note = await save_version(session, base, author, cleaned(sections))
    await repo.drop_drafts(session, encounter_id, author)  # saved: no longer a draft
    enc = await repo.get_encounter(session, encounter_id)
    if enc is not None and enc.status == EncounterStatus.NEEDS_REVIEW:
        enc.status, enc.updated_at = EncounterStatus.READY, utcnow()
    return note


async def save_draft(
    session: AsyncSession,
    encounter_id: str,
    author: str,
    base_version: int,
    sections: Mapping[str, Sequence[str]],
) -> NoteDraft:
    """Keep the author's unsaved edit (their previous one replaced); not of a signed note."""
    note = await repo.current_note(session, encounter_id)
    if note is None:
        raise NoNote(NO_NOTE)
    if note.signed_at is not None:
        raise NoteLocked(LOCKED)
    kept = single_spaced(sections)
    return await repo.save_draft(session, encounter_id, author, base_version, kept)


async def add_addendum(
    session: AsyncSession, encounter_id: str, author: str, text: str, expected: Expected | None
) -> Note:
    """Dated text below the signed note, as a new version that keeps the signature."""
    base = await repo.current_note(session, encounter_id)
    if base is None:
        raise NoNote(NO_NOTE)
    if expected is not None and not expected.matches(base.version):
        raise NoteChanged(CHANGED, base.version)
    try:
        return await repo.add_addendum(session, encounter_id, author, text)
    except repo.NotSigned:
        raise NotSignedYet("the note is not signed yet; edit it instead") from None
    except repo.VersionConflict:
        raise NoteChanged(CHANGED) from None


async def request_note(
    session: AsyncSession, encounter_id: str, model: str | None, default_model: str
) -> str:
    """Have the scheduler write the note again (the next version, kind "regenerated"),
    with ``model`` or else the encounter's; returns the model it will use. Every earlier
    version, a person's edit too, stays in the history; a signed note is never rewritten."""
    enc = await repo.get_encounter(session, encounter_id)
    if enc is None:
        raise EncounterNotFound(NO_ENCOUNTER)
    if enc.status == EncounterStatus.SIGNED:
        raise CannotRegenerate("the note is signed; add an addendum instead")
    if enc.status not in REGENERATABLE:
        raise CannotRegenerate(f"the encounter is {enc.status}; its note is not done yet")
    if not await repo.turn_seqs(session, encounter_id):
        raise CannotRegenerate("the encounter has no transcript to write a note from")
    chosen = model or enc.llm_model or default_model
    enc.llm_model = chosen  # what the scheduler writes the next version with
    try:
        await repo.request_note(session, encounter_id)
    except repo.InvalidTransition as err:
        raise CannotRegenerate(str(err)) from None
    return chosen


def written_statuses(problem: str | None) -> tuple[EncounterStatus, NoteStatus]:
    """Where a note the scheduler wrote starts: with a problem named (turns missing, the
    model's reply patched up) it waits for review; otherwise it is ready to sign."""
    if problem:
        return EncounterStatus.NEEDS_REVIEW, NoteStatus.NEEDS_REVIEW
    return EncounterStatus.READY, NoteStatus.DRAFT
