"""The encounter transcript as the original guide wrote it: ``[HH:MM:SS] Speaker: text``.

Times are wall-clock times of the visit (encounter start + the turn's audio offset) in
the configured time zone. Turns that never arrived are shown where they belong, so a
reader sees the gap instead of a silently shorter visit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from services.notes.db.models import Encounter, Turn
from services.notes.speakers import ROLE_NAMES, SpokenTurn, display_name

RULE = "=" * 80


@dataclass(frozen=True)
class Line:
    seq: int
    at: datetime
    speaker: str | None
    role_name: str
    text: str

    def render(self) -> str:
        return f"[{self.at:%H:%M:%S}] {self.role_name}: {self.text}"

    def prompt(self) -> str:
        """The line as the model reads it (times add nothing to a SOAP note)."""
        return f"{self.role_name}: {self.text}"


def turn_text(turn: Turn) -> str:
    """The edited text when the editor produced one, else what the STT heard."""
    text = turn.edited_text if turn.edited_text is not None else turn.original_text
    return " ".join(text.split())


def spoken(turns: Sequence[Turn]) -> list[SpokenTurn]:
    return [SpokenTurn(t.speaker, turn_text(t)) for t in turns]


def lines_of(
    enc: Encounter, turns: Sequence[Turn], roles: Mapping[str, str], tz: tzinfo | None
) -> list[Line]:
    start = enc.started_at.astimezone(tz)
    return [
        Line(
            seq=t.seq,
            at=start + timedelta(milliseconds=t.start_ms),
            speaker=t.speaker,
            # A turn the clinician corrected one by one beats its speaker's role.
            role_name=ROLE_NAMES.get(t.role, t.role) if t.role else display_name(t.speaker, roles),
            text=turn_text(t),
        )
        for t in sorted(turns, key=lambda t: t.seq)
        if turn_text(t)
    ]


def gap_marker(seqs: Sequence[int]) -> str:
    shown = ", ".join(str(s) for s in seqs[:20]) + (" …" if len(seqs) > 20 else "")
    return f"[--:--:--] (missing: {len(seqs)} turn(s) not received: {shown})"


def render_body(lines: Sequence[Line], missing: Sequence[int] = ()) -> list[str]:
    """Transcript lines in seq order with a marker where turns are missing."""
    out: list[str] = []
    pending = sorted(missing)
    for line in lines:
        before = [s for s in pending if s < line.seq]
        if before:
            out.append(gap_marker(before))
            pending = [s for s in pending if s >= line.seq]
        out.append(line.render())
    if pending:
        out.append(gap_marker(pending))
    return out


def patient_line(enc: Encounter) -> str | None:
    """ "Patient: Jane Doe · MRN 12345 · DOB 1970-01-31", or None when nobody was assigned."""
    if enc.patient is None:
        return None
    parts = [enc.patient_name or "(name not given)"]
    if enc.patient_mrn:
        parts.append(f"MRN {enc.patient_mrn}")
    if enc.patient_dob:
        parts.append(f"DOB {enc.patient_dob.isoformat()}")
    return "Patient: " + " · ".join(parts)


def render_file(
    enc: Encounter, lines: Sequence[Line], missing: Sequence[int], tz: tzinfo | None
) -> str:
    """The transcript file: the guide's header, then one line per turn."""
    head = [
        "Clinical Encounter Transcript",
        f"Date: {enc.started_at.astimezone(tz):%Y-%m-%d %H:%M:%S}",
        f"Encounter: {enc.id}",
    ]
    if enc.room:
        head.append(f"Room: {enc.room}")
    if enc.clinician:
        head.append(f"Clinician: {enc.clinician}")
    who = patient_line(enc)
    if who:
        head.append(who)
    if enc.visit_reason:
        head.append(f"Reason for visit: {enc.visit_reason}")
    if missing:
        head.append(f"Incomplete: {len(missing)} turn(s) were not received")
    return "\n".join([*head, RULE, "", *render_body(lines, missing)]) + "\n"
