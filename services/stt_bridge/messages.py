"""Server -> client messages of streaming v3 as typed models (pipecat-style Literal types).

Parsing is tolerant: unknown message types and unknown fields are kept as
:class:`UnknownMessage` / ignored, so a new server feature never crashes a session. The
legacy error shape (``{"error": ...}`` without ``type``) becomes an :class:`ErrorMessage`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError


class _Server(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class BeginMessage(_Server):
    type: Literal["Begin"] = "Begin"
    id: str
    expires_at: float | None = None


class WordMessage(_Server):
    text: str
    start: float
    end: float
    confidence: float = 1.0
    word_is_final: bool = True
    speaker: str | None = None


class TurnMessage(_Server):
    type: Literal["Turn"] = "Turn"
    turn_order: int
    turn_is_formatted: bool = False
    end_of_turn: bool = False
    transcript: str = ""
    end_of_turn_confidence: float = 0.0
    words: list[WordMessage] = []
    speaker_label: str | None = None


class TerminationMessage(_Server):
    type: Literal["Termination"] = "Termination"
    audio_duration_seconds: float = 0
    session_duration_seconds: float = 0


class ErrorMessage(_Server):
    type: Literal["Error"] = "Error"
    error_code: int | None = None
    error: str = ""


class UnknownMessage(_Server):
    """Anything else (SpeechStarted, Warning, Heartbeat, SpeakerRevision, future types)."""

    type: str


class MalformedMessage(_Server):
    """A text frame that is not JSON or does not fit its declared type."""

    type: Literal["<malformed>"] = "<malformed>"
    declared: str = ""


ServerMessage = (
    BeginMessage
    | TurnMessage
    | TerminationMessage
    | ErrorMessage
    | UnknownMessage
    | MalformedMessage
)
_KNOWN: dict[str, type[_Server]] = {
    "Begin": BeginMessage,
    "Turn": TurnMessage,
    "Termination": TerminationMessage,
    "Error": ErrorMessage,
}


def parse_server_message(text: str | bytes) -> ServerMessage:
    try:
        raw: Any = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return MalformedMessage()
    if not isinstance(raw, dict):
        return MalformedMessage()
    kind = raw.get("type")
    if kind is None and "error" in raw:  # legacy error shape
        kind = "Error"
    if not isinstance(kind, str):
        return MalformedMessage()
    model = _KNOWN.get(kind)
    try:
        if model is None:
            return UnknownMessage(type=kind[:40])
        return model.model_validate(raw)  # type: ignore[return-value]
    except ValidationError:
        return MalformedMessage(declared=kind[:40])


TERMINATE = json.dumps({"type": "Terminate"})
