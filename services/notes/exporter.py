"""Per-encounter files, as the original guide wrote them and clinics expect.

``{export_dir}/{encounter}/encounter_transcript_{YYYYmmdd_HHMMSS}.txt`` (guide format),
``clinical_note_soap_{…}.txt`` (the current note) and ``encounter.json`` (everything:
encounter, turns, every note version). Each file is written to a temporary name in the
same folder, flushed to disk and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from services.notes import transcript
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.models import Encounter, Note, Turn
from services.notes.fields import pick
from services.notes.speakers import resolve_roles
from services.notes.status import NoteStatus


@dataclass(frozen=True)
class ExportedFiles:
    folder: Path
    transcript: Path
    note: Path | None
    json: Path


_PLAIN = re.compile(r"[A-Za-z0-9_.-]")


def safe_dirname(encounter_id: str) -> str:
    """A folder name for the encounter, one per id (``a:b`` and ``a_b`` never share one).

    Plain ids stay as they are; any other character (and a leading dot) becomes ``~``
    plus its UTF-8 bytes in hex. ``~`` is itself escaped, so the mapping is reversible.
    """
    out = []
    for i, ch in enumerate(encounter_id):
        if _PLAIN.fullmatch(ch) and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.append("".join(f"~{b:02x}" for b in ch.encode("utf-8")))
    return "".join(out) or "~"


def write_atomic(path: Path, data: str) -> None:
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)  # PHI: no world access
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o640)  # PHI: not world-readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def note_file_text(
    note: Note, missing: list[int], enc: Encounter | None = None, tz: tzinfo | None = None
) -> str:
    """The note as the guide saved it, under a header that says whose visit it is and
    whether this text is signed: an unsigned version can never pass for the record."""
    if note.status == NoteStatus.SIGNED and note.signed_by:
        head = [f"Signed by {note.signed_by} at {_iso(note.signed_at)}"]
    else:
        head = ["DRAFT — NOT SIGNED"]
    if enc is not None:
        who = transcript.patient_line(enc)
        if who:
            head.append(who)
        visit = f"Visit: {enc.started_at.astimezone(tz):%Y-%m-%d %H:%M}"
        if enc.clinician:
            visit = f"Clinician: {enc.clinician} · {visit}"
        head.append(visit)
        if enc.visit_reason:
            head.append(f"Reason for visit: {enc.visit_reason}")
    if missing:
        head.append(f"NOTE: written without {len(missing)} turn(s) that never arrived.")
    if note.problem:
        head.append(f"NEEDS REVIEW: {note.problem}")
    body = note.text if note.text.endswith("\n") else note.text + "\n"
    return "\n".join(head) + "\n\n" + body


# The columns each record of encounter.json shows, in file order (dates as ISO text).
_TURN_FIELDS = (
    "start_ms", "end_ms", "original_text", "edited_text", "edit_status", "llm_model",
    "flags", "stt_session_id", "turn_order", "formatted",
)  # fmt: skip
_NOTE_FIELDS = (
    "version", "kind", "status", "text", "sections", "model", "author", "problem",
    "missing_seqs",
)  # fmt: skip
_ENCOUNTER_FIELDS = ("id", "room", "clinician", "status", "llm_model", "speech_model")
_ENCOUNTER_DATES = ("started_at", "stopped_at", "transcribed_at", "note_at")
_ENCOUNTER_COUNTS = (
    "expected_turns", "audio_ms", "stt_audio_s", "stt_session_s", "missing_seqs",
)  # fmt: skip


def _turn_json(t: Turn, roles: dict[str, str]) -> dict[str, Any]:
    role = roles.get(t.speaker or "")
    return {"seq": t.seq, "speaker": t.speaker, "role": role, **pick(t, _TURN_FIELDS)}


def _note_json(n: Note) -> dict[str, Any]:
    return {
        **pick(n, _NOTE_FIELDS),
        "created_at": _iso(n.created_at),
        "signed_by": n.signed_by,
        "signed_at": _iso(n.signed_at),
        "addenda": n.addenda or [],
    }


def encounter_json(
    enc: Encounter, turns: list[Turn], notes: list[Note], roles: dict[str, str]
) -> dict[str, Any]:
    return {
        "encounter": {
            **pick(enc, _ENCOUNTER_FIELDS),
            **pick(enc, _ENCOUNTER_DATES, _iso),
            **pick(enc, _ENCOUNTER_COUNTS),
            "speaker_roles": roles,
            "failure_stage": enc.failure_stage,
            "failure_reason": enc.failure_reason,
        },
        "turns": [_turn_json(t, roles) for t in turns],
        "notes": [_note_json(n) for n in notes],
    }


async def export_encounter(
    db: Database,
    export_dir: Path,
    encounter_id: str,
    tz: tzinfo | None = None,
    configured_roles: dict[str, str] | None = None,
) -> ExportedFiles:
    """Write (or rewrite) the files of one encounter from what the database holds now."""
    async with db.session() as s:
        enc = await repo.get_encounter(s, encounter_id)
        if enc is None:
            raise repo.NotFound(encounter_id)
        turns = await repo.list_turns(s, encounter_id)
        notes = await repo.note_history(s, encounter_id)
    roles = resolve_roles(transcript.spoken(turns), enc.speaker_roles, configured_roles or {})
    missing = repo.missing_seqs(enc.expected_turns, [t.seq for t in turns])
    lines = transcript.lines_of(enc, turns, roles, tz)
    stamp = f"{enc.started_at.astimezone(tz):%Y%m%d_%H%M%S}"
    folder = export_dir / safe_dirname(enc.id)
    files = ExportedFiles(
        folder=folder,
        transcript=folder / f"encounter_transcript_{stamp}.txt",
        note=folder / f"clinical_note_soap_{stamp}.txt" if notes else None,
        json=folder / "encounter.json",
    )
    payload = json.dumps(encounter_json(enc, turns, notes, roles), indent=2, ensure_ascii=False)
    transcript_text = transcript.render_file(enc, lines, missing, tz)
    note_text = note_file_text(notes[-1], notes[-1].missing_seqs or [], enc, tz) if notes else None

    def write_all() -> None:
        write_atomic(files.transcript, transcript_text)
        if files.note is not None and note_text is not None:
            write_atomic(files.note, note_text)
        write_atomic(files.json, payload + "\n")

    await asyncio.to_thread(write_all)
    return files
