"""The statuses of an encounter and of a note version, as stored and as the API shows them.

Members are ``StrEnum``s: they compare equal to, and serialise as, the stored strings, so
rows written before this module existed read the same.
"""

from __future__ import annotations

from enum import StrEnum


class EncounterStatus(StrEnum):
    """In the order an encounter normally moves through them."""

    RECORDING = "recording"
    TRANSCRIBING = "transcribing"
    NOTE_PENDING = "note_pending"
    NEEDS_REVIEW = "needs_review"
    READY = "ready"
    SIGNED = "signed"
    FAILED = "failed"
    # An admin removed the encounter's content on request; the row and its audit trail remain.
    PURGED = "purged"


class NoteStatus(StrEnum):
    DRAFT = "draft"
    NEEDS_REVIEW = "needs_review"
    SIGNED = "signed"


# The encounter has its note; control events never move it back.
HAS_NOTE = (EncounterStatus.READY, EncounterStatus.NEEDS_REVIEW, EncounterStatus.SIGNED)
# A written note nobody has signed yet: the clinician's worklist.
AWAITING_SIGNATURE = (EncounterStatus.NEEDS_REVIEW, EncounterStatus.READY)
