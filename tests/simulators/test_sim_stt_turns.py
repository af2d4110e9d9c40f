"""Turn detection and query parsing of the STT simulator, without a network."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.codec import ScriptTurn, StreamDecoder, encode
from simulators.stt_params import ParamError, SessionParams, apply_update_message, parse_query
from simulators.stt_turns import TurnTracker, unformat

words = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8)
texts = st.lists(words, min_size=1, max_size=8).map(" ".join)


def run_tracker(
    query: str, pcm: bytes, chunk: int = 1600, legacy: bool = False
) -> list[dict[str, Any]]:
    dec = StreamDecoder()
    tracker = TurnTracker(parse_query(query), legacy)
    out: list[dict[str, Any]] = []
    for i in range(0, len(pcm), chunk):
        out += tracker.handle(dec.feed(pcm[i : i + chunk]))
    out += tracker.handle(dec.flush())
    tracker.end_turn(out)
    return out


def finals(msgs: list[dict[str, Any]], formatted: bool = True) -> list[str]:
    return [
        m["transcript"]
        for m in msgs
        if m["type"] == "Turn" and m["end_of_turn"] and m["turn_is_formatted"] == formatted
    ]


@given(
    script=st.lists(
        st.builds(ScriptTurn, st.sampled_from(["doctor", "patient"]), texts,
                  st.integers(850, 2000)),
        min_size=1, max_size=5,
    ),
    chunk=st.integers(800, 16000).map(lambda n: n * 2),
)  # fmt: skip
def test_u3_product_settings_one_final_per_script_turn(
    script: list[ScriptTurn], chunk: int
) -> None:
    q = "speech_model=u3-rt-pro&min_turn_silence=800&max_turn_silence=2000&speaker_labels=true"
    msgs = run_tracker(q, encode(script), chunk)
    assert finals(msgs) == [t.text for t in script]
    turns = [m for m in msgs if m["type"] == "Turn" and m["end_of_turn"]]
    assert [m["turn_order"] for m in turns] == list(range(len(script)))
    first_seen = list(dict.fromkeys(t.speaker for t in script))
    assert [m["speaker_label"] for m in turns] == [
        "AB"[first_seen.index(t.speaker)] for t in script
    ]
    for m in turns:
        starts = [w["start"] for w in m["words"]]
        assert starts == sorted(starts)
        assert all(isinstance(w["end"], int) and w["end"] > w["start"] for w in m["words"])


@given(script=st.lists(st.builds(ScriptTurn, st.just("dr"), texts, st.just(1500)), min_size=1,
                       max_size=4))  # fmt: skip
def test_universal_streaming_partials_grow_and_never_change(script: list[ScriptTurn]) -> None:
    msgs = run_tracker("speech_model=universal-streaming-english", encode(script))
    by_turn: dict[int, list[str]] = {}
    for m in msgs:
        if m["type"] == "Turn" and not m["end_of_turn"]:
            by_turn.setdefault(m["turn_order"], []).append(m["transcript"])
    for seq in by_turn.values():
        for before, after in zip(seq, seq[1:], strict=False):
            assert after.startswith(before)
    expected = [" ".join(u for w in t.text.split() if (u := unformat(w))) for t in script]
    assert finals(msgs, formatted=False) == expected


def test_short_pause_merges_turns_and_keeps_word_speakers() -> None:
    script = [ScriptTurn("doctor", "so", 300), ScriptTurn("patient", "yes", 1500)]
    q = "speech_model=u3-rt-pro&min_turn_silence=800&max_turn_silence=2000&speaker_labels=true"
    turns = [m for m in run_tracker(q, encode(script)) if m["type"] == "Turn"]
    assert [(m["transcript"], m["speaker_label"]) for m in turns] == [("so yes", "A")]
    assert [w["speaker"] for w in turns[0]["words"]] == ["A", "B"]


def test_whitespace_runs_collapse_in_transcripts() -> None:
    msgs = run_tracker("speech_model=u3-rt-pro", encode([ScriptTurn("dr", "  a   b ")]))
    assert finals(msgs) == ["a b"]


def test_labels_continue_past_z() -> None:
    names = [f"s{i}" for i in range(28)]
    script = [ScriptTurn(n, "hi .", 1200) for n in names]
    msgs = run_tracker("speech_model=u3-rt-pro&speaker_labels=true", encode(script))
    labels = [m["speaker_label"] for m in msgs if m["type"] == "Turn" and m["end_of_turn"]]
    assert labels[:2] == ["A", "B"]
    assert labels[25:] == ["Z", "AA", "AB"]


# -- query parameters ------------------------------------------------------------------


def test_booleans_in_any_case_and_model_defaults() -> None:
    p = parse_query(
        "speech_model=universal-streaming-english&format_turns=True&speaker_labels=FALSE"
    )
    assert (p.format_turns, p.speaker_labels, p.family) == (True, False, "us")
    assert (p.min_turn_silence, p.max_turn_silence) == (400, 1280)
    u3 = parse_query("speech_model=u3-rt-pro&format_turns=false")
    assert (u3.min_turn_silence, u3.max_turn_silence, u3.family) == (100, 1000, "u3")
    assert parse_query("").speech_model == "u3-rt-pro"


def test_keyterms_as_json_or_repeated() -> None:
    as_json = urlencode({"keyterms_prompt": json.dumps(["metformin", "lisinopril"])})
    repeated = urlencode({"keyterms_prompt": ["metformin", "lisinopril"]}, doseq=True)
    assert parse_query(as_json).keyterms_prompt == ["metformin", "lisinopril"]
    assert parse_query(repeated).keyterms_prompt == ["metformin", "lisinopril"]
    too_long = "x" * 51
    assert parse_query(
        urlencode({"keyterms_prompt": json.dumps([too_long, "ok"])})
    ).keyterms_prompt == ["ok"]
    with pytest.raises(ParamError):
        parse_query(urlencode({"keyterms_prompt": json.dumps([str(i) for i in range(101)])}))


def test_deprecated_and_invalid_parameters() -> None:
    p = parse_query("min_end_of_turn_silence_when_confident=560&speech_model=u3-rt-pro")
    assert p.min_turn_silence == 560
    for bad in ("speech_model=best", "sample_rate=abc", "encoding=opus", "inactivity_timeout=2",
                "end_of_turn_confidence_threshold=1.5", "speaker_labels=maybe"):  # fmt: skip
        with pytest.raises(ParamError):
            parse_query(bad)


def test_update_configuration_message() -> None:
    p = SessionParams()
    apply_update_message(p, {"type": "UpdateConfiguration", "max_turn_silence": 700,
                             "keyterms_prompt": ["a"], "format_turns": True})  # fmt: skip
    assert (p.max_turn_silence, p.keyterms_prompt, p.format_turns) == (700, ["a"], True)
    apply_update_message(p, {"type": "UpdateConfiguration", "keyterms_prompt": []})
    assert p.keyterms_prompt == []
    with pytest.raises(ParamError):
        apply_update_message(p, {"type": "UpdateConfiguration", "keyterms_prompt": "a"})
