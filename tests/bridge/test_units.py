"""Pure parts of the bridge: URL builder, re-chunker, pacer, final selection, close codes,
server message parsing, backoff."""

from __future__ import annotations

import json
import random
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.stt_bridge.chunker import Rechunker, ms_to_bytes
from services.stt_bridge.closes import Next, classify_close, classify_handshake, fatal_reason
from services.stt_bridge.encounter import backoff_delay
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
from services.stt_bridge.pacer import Pacer
from services.stt_bridge.url import build_streaming_url
from shared.contracts import SttSettings

BASE = "wss://streaming.assemblyai.com/v3/ws"


def _query(url: str) -> dict[str, str]:
    pairs = parse_qsl(urlsplit(url).query)
    assert len(pairs) == len(dict(pairs))  # no repeated parameters
    return dict(pairs)


# -- URL ----------------------------------------------------------------------------------


def test_url_u3_parameter_set() -> None:
    stt = SttSettings(keyterms=("metformin", "lisinopril"), speaker_labels=True, max_speakers=2)
    url = build_streaming_url(BASE, stt)
    assert url.startswith(BASE + "?")
    assert _query(url) == {
        "speech_model": "u3-rt-pro",
        "sample_rate": "16000",
        "encoding": "pcm_s16le",
        "domain": "medical-v1",
        "min_turn_silence": "800",
        "max_turn_silence": "2000",
        "keyterms_prompt": json.dumps(["metformin", "lisinopril"]),
        "speaker_labels": "true",
        "max_speakers": "2",
    }


def test_url_universal_streaming_parameter_set() -> None:
    stt = SttSettings(
        speech_model="universal-streaming-english",
        end_of_turn_confidence_threshold=0.7,
        domain=None,
    )
    q = _query(build_streaming_url("ws://127.0.0.1:9/v3/ws", stt))
    assert q["format_turns"] == "true"  # default on for the Universal-Streaming family
    assert q["end_of_turn_confidence_threshold"] == "0.7"
    assert "min_turn_silence" not in q  # the guide: the confidence threshold decides there
    assert "max_turn_silence" not in q
    assert "domain" not in q
    assert q["speaker_labels"] == "false"
    assert "max_speakers" not in q
    assert "keyterms_prompt" not in q
    off = SttSettings(speech_model="universal-streaming-multilingual", format_turns=False)
    q2 = _query(build_streaming_url(BASE, off))
    assert q2["format_turns"] == "false"
    assert q2["language_detection"] == "true"
    assert q2["end_of_turn_confidence_threshold"] == "0.6"  # the guide's value when unset


def test_url_u3_never_sends_universal_streaming_params() -> None:
    stt = SttSettings(format_turns=True, end_of_turn_confidence_threshold=0.5)
    q = _query(build_streaming_url(BASE, stt))
    assert "format_turns" not in q
    assert "end_of_turn_confidence_threshold" not in q


def test_url_rejects_http_and_keeps_other_query_params() -> None:
    with pytest.raises(ValueError, match="ws://"):
        build_streaming_url("https://streaming.assemblyai.com/v3/ws", SttSettings())
    q = _query(build_streaming_url(BASE + "?region=x&speech_model=old", SttSettings()))
    assert q["region"] == "x"
    assert q["speech_model"] == "u3-rt-pro"


# -- re-chunker ---------------------------------------------------------------------------


@given(
    sizes=st.lists(st.integers(1, 40_000).map(lambda n: n * 2), min_size=1, max_size=60),
    target=st.sampled_from([50, 100, 250, 1000]),
    idle_every=st.integers(1, 7),
)
def test_rechunker_chunks_are_valid_and_lossless(
    sizes: list[int], target: int, idle_every: int
) -> None:
    rng = random.Random(len(sizes))
    data = bytes(rng.getrandbits(8) for _ in range(sum(sizes)))
    ch = Rechunker(16000, target)
    out: list[bytes] = []
    pos = 0
    for i, n in enumerate(sizes):
        ch.feed(data[pos : pos + n])
        pos += n
        while (c := ch.take()) is not None:
            out.append(c)
        if i % idle_every == 0 and (c := ch.take_idle()) is not None:
            out.append(c)
    out += ch.take_final()
    joined = b"".join(out)
    assert joined[: len(data)] == data
    assert set(joined[len(data) :]) <= {0}  # only silence padding after the audio
    for c in out:
        assert len(c) % 2 == 0
        assert 1600 <= len(c) <= 32000  # 50..1000 ms at 16 kHz


def test_rechunker_pads_last_chunk_and_rejects_bad_target() -> None:
    ch = Rechunker(16000, 100)
    ch.feed(b"\x01\x00" * 10)
    assert ch.take() is None
    assert ch.take_idle() is None  # 20 samples: below 50 ms
    (tail,) = ch.take_final()
    assert len(tail) == 1600
    assert tail[:20] == b"\x01\x00" * 10
    with pytest.raises(ValueError):
        Rechunker(16000, 20)
    assert ms_to_bytes(50, 44100, ceil=True) == 4410


# -- pacer --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("pace", [1.0, 20.0])
def test_pacer_real_time_catch_up_and_lead(pace: float) -> None:
    clock = FakeClock()
    p = Pacer(32000, pace_factor=pace, catchup=2.0, max_lead_s=5.0, clock=clock)
    chunk = 3200  # 100 ms
    assert p.delay() == 0  # the first chunk goes at once
    # A 60 s backlog: send whenever allowed, advancing the clock by the asked delay.
    while p.sent_s < 60:
        d = p.delay()
        clock.t += d
        lead = p.sent_s - p.elapsed_s()
        assert p.sent_s <= max(p.elapsed_s() * 2.0, 0) + 0.1 + 1e-9  # <= 2x real time
        assert lead <= 5.0 + 0.1 + 1e-9  # never more than max_lead ahead
        p.sent(chunk)
    # Draining took at least the time the bounds allow (60 s of audio, 5 s lead).
    assert p.elapsed_s() >= 60 - 5.0 - 0.2


# -- finals -------------------------------------------------------------------------------


def _turn(order: int, text: str, eot: bool = True, fmt: bool = True) -> TurnMessage:
    return TurnMessage(turn_order=order, transcript=text, end_of_turn=eot, turn_is_formatted=fmt)


def test_u3_finals_once_and_empty_skipped() -> None:
    sel = FinalSelector(universal_streaming=False, format_turns=True, wait_s=1)
    assert sel.feed(_turn(0, "Hi —", eot=False, fmt=False), 0) == []
    assert [(m.transcript, f) for m, f in sel.feed(_turn(0, "Hi."), 0)] == [("Hi.", True)]
    assert sel.feed(_turn(0, "Hi."), 0) == []  # duplicate final for the same turn_order
    assert sel.feed(_turn(1, "  "), 0) == []  # empty final


def test_us_legacy_double_final_publishes_formatted_only() -> None:
    sel = FinalSelector(universal_streaming=True, format_turns=True, wait_s=1)
    assert sel.feed(_turn(0, "hi there", fmt=False), 0) == []
    assert [(m.transcript, f) for m, f in sel.feed(_turn(0, "Hi there."), 0.1)] == [
        ("Hi there.", True)
    ]
    assert sel.expired(5) == []
    assert sel.flush() == []


def test_us_single_final_and_missing_formatted_twin() -> None:
    sel = FinalSelector(universal_streaming=True, format_turns=True, wait_s=1)
    assert [m.transcript for m, _ in sel.feed(_turn(0, "Hello."), 0)] == ["Hello."]
    assert sel.feed(_turn(1, "so what", fmt=False), 1) == []
    assert sel.deadline == 2
    assert [(m.transcript, f) for m, f in sel.expired(2)] == [("so what", False)]
    assert sel.feed(_turn(1, "So what?"), 2.1) == []  # late twin: already published
    sel.feed(_turn(2, "next", fmt=False), 3)
    # a later turn begins: the held final goes out unformatted
    out = sel.feed(_turn(3, "more", eot=False, fmt=False), 3.1)
    assert [(m.turn_order, f) for m, f in out] == [(2, False)]
    sel.feed(_turn(3, "last", fmt=False), 4)
    assert [m.transcript for m, _ in sel.flush()] == ["last"]


def test_us_unformatted_mode() -> None:
    sel = FinalSelector(universal_streaming=True, format_turns=False, wait_s=1)
    assert [(m.transcript, f) for m, f in sel.feed(_turn(0, "hi", fmt=False), 0)] == [("hi", False)]


# -- close codes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        (1006, "", Next.TRANSIENT),
        (1011, "", Next.TRANSIENT),
        (1013, "", Next.TRANSIENT),
        (3005, "Session Cancelled", Next.TRANSIENT),
        (1000, "", Next.TRANSIENT),
        (3008, "Session Expired", Next.ROTATE),
        (3007, "Input duration violation", Next.BUG),
        (3006, "Invalid JSON", Next.BUG),
        (1008, "Unauthorized Connection: Too many concurrent sessions", Next.RATE_LIMIT),
        (3009, "", Next.RATE_LIMIT),
        (1008, "Unauthorized Connection: Invalid API key", Next.FATAL),
        (1008, "Unauthorized Connection: insufficient balance", Next.FATAL),
        (4001, "", Next.FATAL),
        (4002, "", Next.FATAL),
        (4031, "", Next.TRANSIENT),
        (4999, "", Next.TRANSIENT),
    ],
)
def test_close_codes(code: int, text: str, expected: Next) -> None:
    assert classify_close(code, text) is expected


def test_handshake_statuses_and_reason() -> None:
    assert classify_handshake(401) is Next.FATAL
    assert classify_handshake(429) is Next.RATE_LIMIT
    assert classify_handshake(503) is Next.TRANSIENT
    reason = fatal_reason(1008, "Unauthorized Connection: Invalid API key")
    assert "API key" in reason
    assert "kept" in reason
    assert len(reason) <= 500


def test_backoff_grows_with_jitter_and_cap() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(a, 0.5, 30.0, rng) for a in range(12)]
    for a, d in enumerate(delays):
        full = min(30.0, 0.5 * 2**a)
        assert full / 2 <= d <= full
    assert max(delays) <= 30.0


# -- server messages ----------------------------------------------------------------------


def test_parse_server_messages() -> None:
    begin = parse_server_message('{"type":"Begin","id":"s1","expires_at":1700000000}')
    assert isinstance(begin, BeginMessage)
    assert begin.id == "s1"
    turn = parse_server_message(
        json.dumps({"type": "Turn", "turn_order": 3, "turn_is_formatted": True,
                    "end_of_turn": True, "transcript": "Hi.", "end_of_turn_confidence": 1,
                    "words": [{"text": "Hi.", "start": 10, "end": 50, "confidence": 0.9,
                               "word_is_final": True}], "new_field": 1})
    )  # fmt: skip
    assert isinstance(turn, TurnMessage)
    assert turn.words[0].end == 50
    term = parse_server_message(
        '{"type":"Termination","audio_duration_seconds":3,"session_duration_seconds":4}'
    )
    assert isinstance(term, TerminationMessage)
    err = parse_server_message('{"type":"Error","error_code":3005,"error":"x"}')
    assert isinstance(err, ErrorMessage)
    assert err.error_code == 3005
    legacy = parse_server_message('{"error":"Invalid key"}')
    assert isinstance(legacy, ErrorMessage)
    assert legacy.error_code is None
    assert isinstance(parse_server_message('{"type":"Heartbeat"}'), UnknownMessage)
    assert isinstance(parse_server_message("not json"), MalformedMessage)
    assert isinstance(parse_server_message("[1]"), MalformedMessage)
    bad = parse_server_message('{"type":"Turn","turn_order":"x"}')
    assert isinstance(bad, MalformedMessage)
    assert bad.declared == "Turn"
