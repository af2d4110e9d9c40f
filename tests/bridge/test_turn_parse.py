"""The hand-built Turn parse (issue 22: Turn messages are the bridge's hottest input) keeps
the tolerant rules of the pydantic models it replaced: both parse any Turn-shaped JSON to
the same fields, or both call it malformed."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from services.stt_bridge.messages import (
    MalformedMessage,
    TurnMessage,
    _bool,
    _int,
    _number,
    parse_server_message,
)

# -- the former pydantic models (issue 21), as the reference ----------------------------------


class _RefWord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
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
        return 1.0 if f is None else min(1.0, max(0.0, f))

    @field_validator("word_is_final", mode="before")
    @classmethod
    def _final(cls, v: Any) -> bool:
        return v is None or _bool(v)

    @field_validator("speaker", mode="before")
    @classmethod
    def _speaker(cls, v: Any) -> str | None:
        return str(v)[:40] if isinstance(v, str | int) and not isinstance(v, bool) else None


def _ref_word(raw: Any) -> _RefWord | None:
    if not isinstance(raw, dict):
        return None
    text, start, end = raw.get("text"), _number(raw.get("start")), _number(raw.get("end"))
    if not isinstance(text, str) or not text.strip() or start is None or end is None:
        return None
    try:
        return _RefWord.model_validate({**raw, "start": start, "end": max(start, end)})
    except ValidationError:
        return None


class _RefTurn(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    turn_order: int
    turn_is_formatted: bool = False
    end_of_turn: bool = False
    transcript: str = ""
    end_of_turn_confidence: float = 0.0
    words: list[_RefWord] = []
    speaker_label: str | None = None
    text_missing: bool = False

    @model_validator(mode="before")
    @classmethod
    def _tolerate(cls, raw: Any) -> Any:
        out = dict(raw)
        order = _int(raw.get("turn_order"))
        if order is not None and order >= 0:
            out["turn_order"] = order
        else:
            out.pop("turn_order", None)
        out["turn_is_formatted"] = _bool(raw.get("turn_is_formatted"))
        out["end_of_turn"] = _bool(raw.get("end_of_turn"))
        out["end_of_turn_confidence"] = _number(raw.get("end_of_turn_confidence")) or 0.0
        words_raw = raw.get("words")
        words = [w for w in map(_ref_word, words_raw if isinstance(words_raw, list) else []) if w]
        out["words"] = words
        label = raw.get("speaker_label")
        out["speaker_label"] = str(label)[:40] if isinstance(label, str | int) else None
        text = raw.get("transcript")
        if not isinstance(text, str):
            out["transcript"] = " ".join(w.text for w in words)
            out["text_missing"] = not words
        out.pop("type", None)
        return out


def _reference(raw: dict[str, Any]) -> tuple[Any, ...]:
    try:
        t = _RefTurn.model_validate(raw)
    except ValidationError:
        return ("malformed", _bool(raw.get("end_of_turn")))
    words = tuple(
        (w.text, w.start, w.end, w.confidence, w.word_is_final, w.speaker) for w in t.words
    )
    return (t.turn_order, t.turn_is_formatted, t.end_of_turn, t.transcript,
            t.end_of_turn_confidence, words, t.speaker_label, t.text_missing)  # fmt: skip


def _fast(raw: dict[str, Any]) -> tuple[Any, ...]:
    msg = parse_server_message(json.dumps(raw))
    if isinstance(msg, MalformedMessage):
        assert msg.declared == "Turn"
        assert msg.turn_order is None
        return ("malformed", msg.final)
    assert isinstance(msg, TurnMessage)
    words = tuple(tuple(w) for w in msg.words)
    return (msg.turn_order, msg.turn_is_formatted, msg.end_of_turn, msg.transcript,
            msg.end_of_turn_confidence, words, msg.speaker_label, msg.text_missing)  # fmt: skip


# -- what the real service (and a broken one) may send ------------------------------------------

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", " ", "true", "False", "12", "1.5", "x", "2026-01-01T00:00:00Z"]),
)
_text = st.one_of(st.text(max_size=8), _scalar)
_time = st.one_of(st.integers(0, 10**6), st.floats(0, 1e6), _scalar)
_extras = {"confidence": _scalar, "word_is_final": _scalar, "speaker": _scalar, "x": _scalar}
# Mostly usable words (text and times), so the optional fields' rules are exercised.
_good_word = st.fixed_dictionaries(
    {"text": st.sampled_from(["knee", "pain.", " a ", "Dr"]), "start": _time, "end": _time},
    optional=_extras,
)
_any_word = st.fixed_dictionaries(
    {"text": _text, "start": _scalar, "end": _scalar}, optional=_extras
)
_word = st.one_of(_good_word, _good_word, _any_word, _scalar)
_turn = st.fixed_dictionaries(
    {
        "type": st.just("Turn"),
        "turn_order": st.one_of(st.integers(0, 50), _scalar),
        "words": st.one_of(st.lists(_word, min_size=1, max_size=6), _scalar),
    },
    optional={
        "turn_is_formatted": _scalar, "end_of_turn": _scalar,
        "transcript": _text, "end_of_turn_confidence": _scalar,
        "speaker_label": _scalar, "utterance": _scalar,
    },
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(_turn)
def test_same_fields_as_the_pydantic_models(raw: dict[str, Any]) -> None:
    assert _fast(raw) == _reference(raw)


@settings(max_examples=400, deadline=None)
@given(_turn)
def test_last_partial_word_keeps_every_field_but_the_earlier_words(raw: dict[str, Any]) -> None:
    """What a session parses: a partial with its text keeps only its last usable word;
    finals, and partials without a text (rebuilt from the words), are parsed in full."""
    full = parse_server_message(json.dumps(raw))
    short = parse_server_message(json.dumps(raw), last_partial_word=True)
    if not isinstance(full, TurnMessage):
        assert short == full
        return
    assert isinstance(short, TurnMessage)
    if not full.end_of_turn and isinstance(raw.get("transcript"), str):
        assert short == dataclasses.replace(full, words=full.words[-1:])
    else:
        assert short == full


def test_a_typical_partial_and_final() -> None:
    words = [{"text": f"w{i}", "start": 100 * i, "end": 100 * i + 80, "confidence": 0.9,
              "word_is_final": True} for i in range(5)]  # fmt: skip
    for eot in (False, True):
        raw = {
            "type": "Turn", "turn_order": 3, "end_of_turn": eot, "turn_is_formatted": eot,
            "transcript": "w0 w1 w2 w3 w4", "end_of_turn_confidence": 0.5, "words": words,
        }  # fmt: skip
        assert _fast(raw) == _reference(raw)
        msg = parse_server_message(json.dumps(raw))
        assert isinstance(msg, TurnMessage)
        assert msg.words[-1].end == 480.0
        assert msg.end_of_turn is eot


def test_numbers_beyond_a_float_are_no_time_not_a_crash() -> None:
    words = [{"text": "a", "start": 10**400, "end": 5}, {"text": "b", "start": 1, "end": 2}]
    raw = {"type": "Turn", "turn_order": 1, "transcript": "a b", "words": words}
    msg = parse_server_message(json.dumps(raw))
    assert isinstance(msg, TurnMessage)
    assert [w.text for w in msg.words] == ["b"]
    assert not math.isnan(msg.words[0].start)


@pytest.mark.parametrize(
    "word",
    [
        {"speaker": True}, {"speaker": 7}, {"speaker": "B" * 50}, {"word_is_final": None},
        {"word_is_final": "false"}, {"confidence": 1.5}, {"confidence": "0.4"},
        {"confidence": None}, {"end": 0}, {"start": "12", "end": "1e3"},
    ],
)  # fmt: skip
def test_edge_words_as_the_models(word: dict[str, Any]) -> None:
    raw = {"type": "Turn", "turn_order": 0, "words": [{"text": "a", "start": 5, "end": 9, **word}]}
    assert _fast(raw) == _reference(raw)
