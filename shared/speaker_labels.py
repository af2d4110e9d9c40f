"""Speaker labels that never collide across the STT sessions of one encounter.

The streaming service labels speakers per WebSocket session, from "A" in order of first
appearance. After a reconnect or a session rotation "A" may be the other person, so the
bridge namespaces every label by the session's ordinal within the encounter: the first
session keeps the bare label ("A", as before and as a clinic's fixed mapping expects),
later sessions get ``"<n>:<label>"`` ("2:A"). Roles are then decided per namespaced label
(services/notes/speakers.py), never by the bare letter.
"""

from __future__ import annotations

SEPARATOR = ":"
UNASSIGNED = frozenset({"", "UNKNOWN"})


def session_label(label: str | None, session_n: int) -> str | None:
    """The encounter-wide label of ``label`` heard in session ``session_n`` (1-based);
    None for no label or the service's "UNKNOWN" (too little audio to tell)."""
    if label is None:
        return None
    label = label.strip()[:12]
    if label.upper() in UNASSIGNED:
        return None
    return label if session_n <= 1 else f"{session_n}{SEPARATOR}{label}"


def split_label(speaker: str) -> tuple[int, str]:
    """``(session ordinal, label as the service sent it)`` of an encounter-wide label."""
    head, sep, tail = speaker.partition(SEPARATOR)
    if sep and head.isdigit() and tail:
        return int(head), tail
    return 1, speaker
