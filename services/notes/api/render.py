"""Plain-text forms the API serves: the transcript export format and a SOAP note's text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

SECTION_TITLES = (
    ("subjective", "SUBJECTIVE"),
    ("objective", "OBJECTIVE"),
    ("assessment", "ASSESSMENT"),
    ("plan", "PLAN"),
)


class TurnLike(Protocol):
    @property
    def speaker(self) -> str | None: ...
    @property
    def start_ms(self) -> int: ...
    @property
    def original_text(self) -> str: ...
    @property
    def edited_text(self) -> str | None: ...


def clock(ms: int) -> str:
    """``HH:MM:SS`` of an offset into the encounter."""
    seconds = max(ms, 0) // 1000
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def speaker_name(label: str | None, roles: Mapping[str, str] | None) -> str:
    """``Clinician`` / ``Patient`` when the role is known, else ``Speaker A`` / ``Speaker``."""
    if label and roles and label in roles:
        return roles[label].capitalize()
    return f"Speaker {label}" if label else "Speaker"


def turn_text(turn: TurnLike) -> str:
    return turn.edited_text if turn.edited_text else turn.original_text


def format_transcript(turns: Iterable[TurnLike], roles: Mapping[str, str] | None) -> str:
    """One line per turn: ``[HH:MM:SS] Speaker: text`` (the export file format)."""
    lines = []
    for turn in turns:
        text = " ".join(turn_text(turn).split())
        lines.append(f"[{clock(turn.start_ms)}] {speaker_name(turn.speaker, roles)}: {text}")
    return "\n".join(lines) + ("\n" if lines else "")


def render_sections(sections: Mapping[str, Sequence[str]]) -> str:
    """The four-section text of a note, one ``- item`` line per statement."""
    blocks = []
    for key, title in SECTION_TITLES:
        items = sections.get(key) or []
        body = "\n".join(f"- {' '.join(item.split())}" for item in items) or "- (none)"
        blocks.append(f"{title}:\n{body}")
    return "\n\n".join(blocks) + "\n"
