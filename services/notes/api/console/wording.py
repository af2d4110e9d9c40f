"""What the console calls things: clinical words for statuses, product names for models.

console.js has the same status words (it draws badges from API data); keep the two in step.
"""

from __future__ import annotations

from services.notes.status import EncounterStatus

STATUS_LABELS: dict[str, str] = {
    EncounterStatus.RECORDING: "Recording",
    EncounterStatus.TRANSCRIBING: "Transcribing",
    EncounterStatus.NOTE_PENDING: "Writing note",
    EncounterStatus.NEEDS_REVIEW: "Needs review",
    EncounterStatus.READY: "Awaiting signature",
    EncounterStatus.SIGNED: "Signed",
    EncounterStatus.FAILED: "Failed",
    EncounterStatus.PURGED: "Removed",
}

MODEL_LABELS = {
    "claude-sonnet-4-6": "Claude Sonnet 4.6",
    "claude-haiku-4-5-20251001": "Claude Haiku 4.5",
    "gemini-2.5-flash": "Gemini 2.5 Flash",
    "gemini-2.5-pro": "Gemini 2.5 Pro",
}


def model_label(model_id: str) -> str:
    """The name a clinician knows a model by (the id itself for one we do not know)."""
    return MODEL_LABELS.get(model_id, model_id)
