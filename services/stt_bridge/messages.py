"""Server -> client messages of streaming v3 as typed models (pipecat-style Literal types).

Parsing is tolerant, because the real service sends what its schema does not promise: nulls
where a number is documented (``end_of_turn_confidence``, a word's ``confidence``,
``words``), extra fields, new message types (SpeakerRevision, Warning, Heartbeat, ...) and
``expires_at`` in more than one shape. ``SpeakerRevision`` (corrected speaker labels of
earlier turns) is parsed as tolerantly as a Turn. Unknown types become :class:`UnknownMessage`;
unknown fields are ignored; a null takes the field's neutral value; a word without a usable
time or text is left out. The legacy error shape (``{"error": ...}`` without ``type``)
becomes an :class:`ErrorMessage`.

What still cannot be used is kept visible: a final whose text is missing has
``text_missing`` set, and a Turn that does not parse at all becomes a
:class:`MalformedMessage` that says whether it was a final and which ``turn_order`` it had,
so the session can record a gap instead of dropping it.

Turn messages (a partial per word, each repeating every word so far) are the bridge's
hottest input: they are plain slotted dataclasses built by hand with the same tolerant
rules, not pydantic models (issue 22: ~5x cheaper; the rules are checked against the
former pydantic models in ``tests/bridge/test_turn_parse.py``). The text is parsed with
orjson (the standard library's parser, with its exact results, takes what orjson refuses:
NaN, integers beyond 64 bits, lone surrogates); a session asks for a partial's last usable
word only (``last_partial_word``): it publishes nothing else of a partial, and a partial
repeats every word of the turn so far.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class _Server(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _number(v: Any) -> float | None:
    """A finite number from an int, float or numeric string; else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        try:
            f = float(v)
        except OverflowError:  # an int beyond any float: no usable number
            return None
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


class WordMessage(NamedTuple):
    """A tuple, not a model: a partial carries every word so far, so this is per word."""

    text: str
    start: float
    end: float
    confidence: float = 1.0
    word_is_final: bool = True
    speaker: str | None = None


def _time(v: Any) -> float | None:
    # Nearly always a small int from JSON: skip _number's general checks then.
    return float(v) if type(v) is int and -(2**53) < v < 2**53 else _number(v)


def _word(raw: Any) -> WordMessage | None:
    """A usable word, or None (no text, or no time to place it by)."""
    if type(raw) is not dict:
        return None
    text, start, end = raw.get("text"), _time(raw.get("start")), _time(raw.get("end"))
    if not isinstance(text, str) or start is None or end is None or not text.strip():
        return None
    conf = raw.get("confidence", 1.0)
    if type(conf) is not float or not 0.0 <= conf <= 1.0:
        c = _number(conf)
        conf = 1.0 if c is None else min(1.0, max(0.0, c))  # null: not scored, not doubtful
    final = raw.get("word_is_final")
    speaker = raw.get("speaker")
    if speaker is not None:
        ok = isinstance(speaker, str | int) and not isinstance(speaker, bool)
        speaker = str(speaker)[:40] if ok else None
    return WordMessage(
        text, start, end if end > start else start, conf,
        final is True or final is None or _bool(final), speaker,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TurnMessage:
    turn_order: int
    turn_is_formatted: bool = False
    end_of_turn: bool = False
    transcript: str = ""
    end_of_turn_confidence: float = 0.0
    words: tuple[WordMessage, ...] = ()
    speaker_label: str | None = None
    text_missing: bool = False  # a final whose text never came (not an empty turn)
    type: Literal["Turn"] = "Turn"


def _last_word(words_raw: list[Any]) -> tuple[WordMessage, ...]:
    """The last usable word of a list, as a 1-tuple (empty if none is usable)."""
    for raw in reversed(words_raw):
        word = _word(raw)
        if word is not None:
            return (word,)
    return ()


def _turn(raw: dict[str, Any], last_partial_word: bool = False) -> TurnMessage | MalformedMessage:
    order = _int(raw.get("turn_order"))
    if order is None or order < 0:  # without a usable order the turn cannot be placed
        return MalformedMessage(declared="Turn", final=_bool(raw.get("end_of_turn")))
    words_raw = raw.get("words")
    text = raw.get("transcript")
    end_of_turn = _bool(raw.get("end_of_turn"))
    if not isinstance(words_raw, list):
        words: tuple[WordMessage, ...] = ()
    elif last_partial_word and not end_of_turn and isinstance(text, str):
        words = _last_word(words_raw)  # all a partial is published with
    else:
        words = tuple(w for w in map(_word, words_raw) if w)
    label = raw.get("speaker_label")
    missing = False
    if not isinstance(text, str):
        # No text field: the words still say what was heard; without them it is lost.
        text, missing = " ".join(w.text for w in words), not words
    return TurnMessage(
        turn_order=order,
        turn_is_formatted=_bool(raw.get("turn_is_formatted")),
        end_of_turn=end_of_turn,
        transcript=text,
        end_of_turn_confidence=_number(raw.get("end_of_turn_confidence")) or 0.0,
        words=words,
        speaker_label=str(label)[:40] if isinstance(label, str | int) else None,
        text_missing=missing,
    )


class RevisedTurn(NamedTuple):
    """One earlier turn whose speaker the service re-decided (text and times unchanged)."""

    turn_order: int
    speaker_label: str | None  # None: the service no longer names a speaker
    word_speakers: tuple[str | None, ...] = ()  # per word, when the revision lists words


@dataclass(frozen=True, slots=True)
class SpeakerRevisionMessage:
    """``SpeakerRevision``: corrected speaker labels of earlier turns of this session.

    Items without a usable ``turn_order`` are left out (they cannot be placed); a label
    that is not a string is read as no label.
    """

    revisions: tuple[RevisedTurn, ...] = ()
    type: Literal["SpeakerRevision"] = "SpeakerRevision"


def _label(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, str | int):
        return None
    return str(v).strip()[:40] or None


def _speaker_revision(raw: dict[str, Any]) -> SpeakerRevisionMessage:
    items = raw.get("revisions")
    out: list[RevisedTurn] = []
    for item in items if isinstance(items, list) else []:
        if type(item) is not dict:
            continue
        order = _int(item.get("turn_order"))
        if order is None or order < 0:
            continue
        words = item.get("words")
        speakers = tuple(
            _label(w.get("speaker")) if type(w) is dict else None
            for w in (words if isinstance(words, list) else [])
        )
        out.append(RevisedTurn(order, _label(item.get("speaker_label")), speakers))
    return SpeakerRevisionMessage(tuple(out))


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
    """Anything else (SpeechStarted, Warning, Heartbeat, future types)."""

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
    | SpeakerRevisionMessage
    | UnknownMessage
    | MalformedMessage
)
_KNOWN: dict[str, type[_Server]] = {
    "Begin": BeginMessage,
    "Termination": TerminationMessage,
    "Error": ErrorMessage,
}


def _loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # NaN, huge integers, surrogates: as json reads them


def parse_server_message(text: str | bytes, *, last_partial_word: bool = False) -> ServerMessage:
    """One server message. ``last_partial_word``: a partial Turn (not ``end_of_turn``, with
    its text) keeps only its last usable word; everything else is parsed in full."""
    try:
        raw: Any = _loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return MalformedMessage()
    if not isinstance(raw, dict):
        return MalformedMessage()
    kind = raw.get("type")
    if kind is None and "error" in raw:  # legacy error shape
        kind = "Error"
    if not isinstance(kind, str):
        return MalformedMessage()
    if kind == "Turn":
        return _turn(raw, last_partial_word)
    if kind == "SpeakerRevision":
        return _speaker_revision(raw)
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
