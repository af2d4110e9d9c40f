"""Tolerant parsing of the real service's messages (issue 21, point 3): nulls, extra
fields, other shapes of ``expires_at``, unknown types; what cannot be used says so."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.stt_bridge.finals import FinalSelector
from services.stt_bridge.messages import (
    BeginMessage,
    ErrorMessage,
    MalformedMessage,
    TerminationMessage,
    TurnMessage,
    UnknownMessage,
    parse_server_message,
)
from simulators.stt_realism import expires_at, with_nulls, without_text

WORDS = [
    {"text": "Knee", "start": 100, "end": 400, "confidence": 0.9, "word_is_final": True},
    {"text": "pain.", "start": 420, "end": 800, "confidence": 0.8, "word_is_final": True},
]


def _turn(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "Turn", "turn_order": 2, "turn_is_formatted": True, "end_of_turn": True,
        "transcript": "Knee pain.", "end_of_turn_confidence": 0.7, "words": WORDS,
    }  # fmt: skip
    base.update(kw)
    return base


def _parse(raw: dict[str, Any]) -> Any:
    return parse_server_message(json.dumps(raw))


@pytest.mark.parametrize(
    "kw",
    [
        {"end_of_turn_confidence": None},
        {"words": None},
        {"words": [{**WORDS[0], "confidence": None}, {**WORDS[1], "word_is_final": None}]},
        {"speaker_label": None, "utterance": None, "language_code": None},
        {"turn_is_formatted": None, "extra": {"nested": [1, None]}},
        {"turn_order": "2"},
        {"words": [{**WORDS[0], "start": None}, WORDS[1], "junk", None]},
    ],
)
def test_final_with_nulls_and_extras_is_usable(kw: dict[str, Any]) -> None:
    msg = _parse(_turn(**kw))
    assert isinstance(msg, TurnMessage)
    assert msg.transcript == "Knee pain."
    assert msg.end_of_turn
    assert msg.turn_order == 2
    assert not msg.text_missing
    assert all(0.0 <= w.confidence <= 1.0 for w in msg.words)
    assert all(w.text for w in msg.words)


def test_null_word_confidence_is_unscored_not_doubtful() -> None:
    msg = _parse(_turn(words=[{**WORDS[0], "confidence": None}]))
    assert isinstance(msg, TurnMessage)
    assert msg.words[0].confidence == 1.0


def test_a_word_without_a_time_is_left_out_the_rest_kept() -> None:
    msg = _parse(_turn(words=[{**WORDS[0], "end": None}, WORDS[1]]))
    assert isinstance(msg, TurnMessage)
    assert [w.text for w in msg.words] == ["pain."]


def test_missing_text_rebuilt_from_words_else_marked() -> None:
    rebuilt = _parse(_turn(transcript=None))
    assert isinstance(rebuilt, TurnMessage)
    assert (rebuilt.transcript, rebuilt.text_missing) == ("Knee pain.", False)
    lost = _parse(_turn(transcript=None, words=None))
    assert isinstance(lost, TurnMessage)
    assert lost.text_missing
    assert lost.end_of_turn
    assert lost.turn_order == 2
    empty = _parse(_turn(transcript="", words=[]))  # an empty final is not a lost one
    assert isinstance(empty, TurnMessage)
    assert not empty.text_missing


def test_unparseable_final_says_it_was_a_final() -> None:
    msg = _parse(_turn(turn_order=None))
    assert isinstance(msg, MalformedMessage)
    assert (msg.declared, msg.final, msg.turn_order) == ("Turn", True, None)
    partial = _parse(_turn(turn_order=-1, end_of_turn=False))
    assert isinstance(partial, MalformedMessage)
    assert not partial.final


NOW = 1_790_000_000


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (NOW, NOW),
        (NOW + 0.5, NOW + 0.5),
        (NOW * 1000, NOW),
        (str(NOW), NOW),
        (datetime.fromtimestamp(NOW, UTC).isoformat(), NOW),
        (datetime.fromtimestamp(NOW, UTC).isoformat().replace("+00:00", "Z"), NOW),
        (None, None),
        ("soon", None),
        ({"s": NOW}, None),
        (-5, None),
    ],
)
def test_begin_expires_at_shapes(raw: Any, want: float | None) -> None:
    msg = _parse({"type": "Begin", "id": "s-1", "expires_at": raw, "configuration": {}})
    assert isinstance(msg, BeginMessage)
    assert msg.id == "s-1"
    assert msg.expires_at == (pytest.approx(want) if want is not None else None)


def test_begin_without_id_still_begins() -> None:
    a, b = _parse({"type": "Begin", "id": None}), _parse({"type": "Begin"})
    assert isinstance(a, BeginMessage)
    assert isinstance(b, BeginMessage)
    assert a.id
    assert b.id
    assert a.id != b.id


def test_unknown_types_and_odd_termination_and_error() -> None:
    for kind in ("Warning", "Heartbeat", "LLMGatewayResponse", "Silence"):
        assert isinstance(_parse({"type": kind, "x": None}), UnknownMessage)
    term = _parse({"type": "Termination", "audio_duration_seconds": None,
                   "session_duration_seconds": "12"})  # fmt: skip
    assert isinstance(term, TerminationMessage)
    assert (term.audio_duration_seconds, term.session_duration_seconds) == (0, 12)
    err = _parse({"type": "Error", "error_code": "3005", "error": None})
    assert isinstance(err, ErrorMessage)
    assert (err.error_code, err.error) == (3005, "")


def test_simulator_realism_shapes_parse() -> None:
    """What the simulator's realistic knobs send is what the parser must take."""
    for fmt in ("int", "float", "ms", "iso"):
        begin = _parse({"type": "Begin", "id": "x", "expires_at": expires_at(NOW, fmt)})
        assert isinstance(begin, BeginMessage)
        assert begin.expires_at == pytest.approx(NOW, abs=1)
    nulled = _parse(with_nulls(_turn()))
    assert isinstance(nulled, TurnMessage)
    assert nulled.transcript == "Knee pain."
    lost = _parse(without_text(_turn()))
    assert isinstance(lost, TurnMessage)
    assert lost.text_missing


def _t(order: int, text: str = "x", fmt: bool = True) -> TurnMessage:
    return TurnMessage(turn_order=order, end_of_turn=True, transcript=text, turn_is_formatted=fmt)


def test_selector_lost_final_is_a_gap_once() -> None:
    sel = FinalSelector(universal_streaming=False, format_turns=False, wait_s=1.0)
    assert sel.feed(_t(0), 0)
    assert sel.lost(1) == ([], True)
    assert sel.lost(1) == ([], False)  # a repeat of the same lost turn
    assert sel.feed(_t(1), 0) == []  # its usable twin after the gap: not published twice
    assert [m.turn_order for m, _ in sel.feed(_t(2), 0)] == [2]
    assert sel.lost(None) == ([], True)  # order unknown: still a gap


def test_selector_lost_formatted_twin_releases_the_held_final() -> None:
    sel = FinalSelector(universal_streaming=True, format_turns=True, wait_s=1.0)
    assert sel.feed(_t(0, "knee pain", fmt=False), 0) == []
    out, gap = sel.lost(0)
    assert [(m.transcript, f) for m, f in out] == [("knee pain", False)]
    assert not gap
    assert sel.feed(_t(1, "later", fmt=False), 0) == []
    out, gap = sel.lost(2)  # a later turn lost: the held one goes out first
    assert [m.turn_order for m, _ in out] == [1]
    assert gap
