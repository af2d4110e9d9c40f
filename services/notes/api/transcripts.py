"""The transcript as the API serves it, built with the notes service's own formatting.

Speaker roles are resolved exactly as the note writer and the file exporter do, and the
text form is the export file (``[HH:MM:SS] Speaker: text`` with its header), so what
staff read through the API matches the files on disk line for line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.notes import transcript
from services.notes.config import NotesSettings
from services.notes.db import repo
from services.notes.db.models import Encounter, Turn
from services.notes.speakers import resolve_roles


@dataclass(frozen=True)
class TranscriptView:
    roles: dict[str, str]
    missing: list[int]
    text: str


def transcript_view(
    settings: NotesSettings, enc: Encounter, turns: Sequence[Turn]
) -> TranscriptView:
    roles = resolve_roles(transcript.spoken(turns), enc.speaker_roles, settings.speaker_roles)
    missing = repo.missing_seqs(enc.expected_turns, [t.seq for t in turns])
    tz = settings.tzinfo()
    lines = transcript.lines_of(enc, turns, roles, tz)
    return TranscriptView(roles, missing, transcript.render_file(enc, lines, missing, tz))
