"""Signing the note: the version signed, the flags the signer must acknowledge first,
and save-and-sign (the final text, the attestation and the signature in one step)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.db import repo
from services.notes.db.models import Note
from services.notes.domain.errors import FlagsNotAcknowledged, NoNote, NoteChanged, NoteLocked
from services.notes.domain.notes import (
    CHANGED,
    NO_NOTE,
    Expected,
    cleaned,
    editable_base,
    save_version,
)
from services.notes.soap_format import SECTIONS
from shared.evidence import open_high_flags

ALREADY_SIGNED = "already signed; add an addendum instead"
UNACKNOWLEDGED = (
    "the note has unsupported high-severity statements; review them or sign with acknowledge_flags"
)


@dataclass(frozen=True)
class Signature:
    note: Note  # the signed version
    edited: bool  # the signer's text was saved as a new version first
    high_flags: int  # open high-severity flags the signer acknowledged


def _rows(note: Note) -> list[dict[str, Any]]:
    """The version's stored evidence rows (none for versions older than evidence)."""
    rows = note.evidence if isinstance(note.evidence, list) else []
    return [row for row in rows if isinstance(row, dict)]


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def unacknowledged(
    rows: Sequence[Mapping[str, Any]], acknowledged: set[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The statements with the high flags not in ``acknowledged`` (normalised statement
    text and term), each with only those flags."""
    out: list[dict[str, Any]] = []
    for row in rows:
        text, flags = row.get("text"), row.get("flags")
        if not isinstance(text, str) or not isinstance(flags, list):
            continue
        high = [
            f
            for f in flags
            if isinstance(f, Mapping)
            and f.get("severity") == "high"
            and (_norm(text), _norm(str(f.get("term", "")))) not in acknowledged
        ]
        if high:
            out.append({**row, "flags": high})
    return out


def same_sections(note: Note, sections: Mapping[str, Sequence[str]]) -> bool:
    stored = note.sections if isinstance(note.sections, dict) else {}
    return all(
        [" ".join(str(i).split()) for i in stored.get(k) or []] == list(sections.get(k, []))
        for k in SECTIONS
    )


async def _sign(session: AsyncSession, note: Note, signer: str) -> Note:
    signed = await repo.sign_note(session, note.encounter_id, note.version, signer)
    await repo.drop_drafts(session, note.encounter_id)  # the note is locked now
    return signed


async def sign_note(
    session: AsyncSession,
    encounter_id: str,
    signer: str,
    expected: Expected | None,
    acknowledge_flags: bool,
) -> Signature:
    """Sign the current version (the one ``expected`` names, if given). A version with
    open high-severity flags is signed only when the signer acknowledges them."""
    note = await repo.current_note(session, encounter_id)
    if note is None:
        raise NoNote(NO_NOTE)
    if expected is not None and not expected.matches(note.version):
        raise NoteChanged(CHANGED, note.version)
    if note.signed_at is not None:
        raise NoteLocked(ALREADY_SIGNED)
    high = open_high_flags(_rows(note))
    if high and not acknowledge_flags:
        raise FlagsNotAcknowledged(UNACKNOWLEDGED)
    return Signature(await _sign(session, note, signer), edited=False, high_flags=high)


async def save_and_sign(
    session: AsyncSession,
    encounter_id: str,
    signer: str,
    sections: Mapping[str, Sequence[str]],
    expected: Expected,
    acknowledged: Iterable[tuple[str, str]],
) -> Signature:
    """The signer's final text (a new version when it differs from the one they read),
    then the signature. Every open high-severity flag of the text signed must be among
    ``acknowledged`` (statement, term); otherwise FlagsNotAcknowledged lists them."""
    base = await editable_base(session, encounter_id, expected, locked=ALREADY_SIGNED)
    text = cleaned(sections)
    note, edited = base, not same_sections(base, text)
    if edited:
        note = await save_version(session, base, signer, text)
    acked = {(_norm(statement), _norm(term)) for statement, term in acknowledged}
    refused = unacknowledged(_rows(note), acked)
    if refused:
        # Raised before the signature: the caller's transaction rolls back, nothing saved.
        count = sum(len(row["flags"]) for row in refused)
        raise FlagsNotAcknowledged(
            f"{count} high-severity flag(s) not acknowledged; "
            "review them (listed in flags) and sign again",
            refused,
        )
    high = open_high_flags(_rows(note))
    return Signature(await _sign(session, note, signer), edited=edited, high_flags=high)
