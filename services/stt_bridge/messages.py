"""Server -> client messages of streaming v3 as typed models (pipecat-style Literal types).

Parsing is tolerant, because the real service sends what its schema does not promise: nulls
where a number is documented (``end_of_turn_confidence``, a word's ``confidence``,
``words``), extra fields, new message types (SpeakerRevision, Warning, Heartbeat, ...) and
``expires_at`` in more than one shape. Unknown types become :class:`UnknownMessage`;
unknown fields are ignored; a null takes the field's neutral value; a word without a usable
time or text is left out. The legacy error shape (``{"error": ...}`` without ``type``)
becomes an :class:`ErrorMessage`.

What still cannot be used is kept visible: a final whose text is missing has
``text_missing`` set, and a Turn that does not parse at all becomes a
:class:`MalformedMessage` that says whether it was a final and which ``turn_order`` it had,
so the session can record a gap instead of dropping it.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class _Server(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _number(v: Any) -> float | None:
    """A finite number from an int, float or numeric string; else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def _int(v: Any) -> int | None:
    f = _number(v)
    return int(f) if f is not None and f == int(f) else None


def _bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() == "true"
    return v is True


def _epoch_s(v: Any) -> float | None:
    """``expires_at`` as epoch seconds: seconds, milliseconds or an ISO-8601 time."""
    f = _number(v)
    if f is None and isinstance(v, str):
        try:
            f = datetime.fromisoformat(v.strip().replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    if f is None or f <= 0:
        return None
    return f / 1000 if f > 1e11 else f  # beyond year 5138 in seconds: it was milliseconds


class BeginMessage(_Server):
    type: Literal["Begin"] = "Begin"
    id: str = Field(default_factory=lambda: f"unidentified-{uuid.uuid4()}")
    expires_at: float | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        if isinstance(v, str | int) and str(v).strip():
            return str(v).strip()[:200]
        return f"unidentified-{uuid.uuid4()}"  # sessions still need a key of their own

    @field_validator("expires_at", mode="before")
    @classmethod
    def _expires(cls, v: Any) -> float | None:
        return _epoch_s(v)  # unusable -> None: no proactive rotation, 3008 still rotates


class WordMessage(_Server):
    text: str
    start: float
    end: float
    confidence: float = 1.0
    word_is_final: bool = True
    speaker: str | None = None

    @field_validator("confidence", mode="before")
    @classmethod
    def _conf(cls, v: Any) -> float:
        f = _number(v)
        return 1.0 if f is None else min(1.0, max(0.0, f))  # null: not scored, not doubtful

    @field_validator("word_is_final", mode="before")
    @classmethod
    def _final(cls, v: Any) -> bool:
        return v is None or _bool(v)

    @field_validator("speaker", mode="before")
    @classmethod
    def _speaker(cls, v: Any) -> str | None:
        return str(v)[:40] if isinstance(v, str | int) and not isinstance(v, bool) else None


def _word(raw: Any) -> WordMessage | None:
    """A usable word, or None (no text, or no time to place it by)."""
    if not isinstance(raw, dict):
        return None
    text, start, end = raw.get("text"), _number(raw.get("start")), _number(raw.get("end"))
    if not isinstance(text, str) or not text.strip() or start is None or end is None:
        return None
    try:
        return WordMessage.model_validate({**raw, "start": start, "end": max(start, end)})
    except ValidationError:
        return None


class TurnMessage(_Server):
    type: Literal["Turn"] = "Turn"
    turn_order: int
    turn_is_formatted: bool = False
    end_of_turn: bool = False
    transcript: str = ""
    end_of_turn_confidence: float = 0.0
    words: list[WordMessage] = []
    speaker_label: str | None = None
    text_missing: bool = False  # a final whose text never came (not an empty turn)

    @model_validator(mode="before")
    @classmethod
    def _tolerate(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        out = dict(raw)
        order = _int(raw.get("turn_order"))
        if order is not None and order >= 0:
            out["turn_order"] = order
        else:  # without a usable order the turn cannot be placed: malformed
            out.pop("turn_order", None)
        out["turn_is_formatted"] = _bool(raw.get("turn_is_formatted"))
        out["end_of_turn"] = _bool(raw.get("end_of_turn"))
        out["end_of_turn_confidence"] = _number(raw.get("end_of_turn_confidence")) or 0.0
        words_raw = raw.get("words")
        words = [w for w in map(_word, words_raw if isinstance(words_raw, list) else []) if w]
        out["words"] = words
        label = raw.get("speaker_label")
        out["speaker_label"] = str(label)[:40] if isinstance(label, str | int) else None
        text = raw.get("transcript")
        if not isinstance(text, str):
            # No text field: the words still say what was heard; without them it is lost.
            out["transcript"] = " ".join(w.text for w in words)
            out["text_missing"] = not words
        out.pop("type", None)
        return out


class TerminationMessage(_Server):
    type: Literal["Termination"] = "Termination"
    audio_duration_seconds: float = 0
    session_duration_seconds: float = 0

    @field_validator("audio_duration_seconds", "session_duration_seconds", mode="before")
    @classmethod
    def _secs(cls, v: Any) -> float:
        return max(0.0, _number(v) or 0.0)


class ErrorMessage(_Server):
    type: Literal["Error"] = "Error"
    error_code: int | None = None
    error: str = ""

    @field_validator("error_code", mode="before")
    @classmethod
    def _code(cls, v: Any) -> int | None:
        return _int(v)

    @field_validator("error", mode="before")
    @classmethod
    def _text(cls, v: Any) -> str:
        return v if isinstance(v, str) else ""


class UnknownMessage(_Server):
    """Anything else (SpeechStarted, Warning, Heartbeat, SpeakerRevision, future types)."""

    type: str


class MalformedMessage(_Server):
    """A text frame that is not JSON or does not fit its declared type."""

    type: Literal["<malformed>"] = "<malformed>"
    declared: str = ""
    final: bool = False  # it said end_of_turn: a turn was lost, not just a partial
    turn_order: int | None = None


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
        order = _int(raw.get("turn_order"))
        return MalformedMessage(
            declared=kind[:40],
            final=kind == "Turn" and _bool(raw.get("end_of_turn")),
            turn_order=order if order is not None and order >= 0 else None,
        )


TERMINATE = json.dumps({"type": "Terminate"})
