"""Tone-coded audio codec: exact round trips whatever the chunking, noise, late joins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.acibench import Dialogue
from simulators.codec import (
    CharEvent,
    DecodedEvent,
    EndMarkEvent,
    ScriptTurn,
    SilenceEvent,
    SpeakerEvent,
    SpeechEvent,
    StreamDecoder,
    decode,
    dump_script,
    encode,
    load_script,
    mulaw_to_pcm16,
    read_wav,
    script_from_dialogue,
    write_wav,
)

printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
names = st.sampled_from(["doctor", "patient", "patient_guest", "Dr. O'Neil"])
turns = st.builds(ScriptTurn, names, printable, st.integers(0, 1500).map(lambda ms: ms // 20 * 20))


def add_noise(pcm: bytes, std: float, seed: int) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    x += np.random.default_rng(seed).normal(0.0, std, x.size)
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def feed_chunked(pcm: bytes, sizes: list[int]) -> list[DecodedEvent]:
    dec = StreamDecoder()
    events: list[DecodedEvent] = []
    pos, i = 0, 0
    while pos < len(pcm):
        size = sizes[i % len(sizes)]
        events += dec.feed(pcm[pos : pos + size])
        pos, i = pos + size, i + 1
    return events + dec.flush()


def turns_of(events: list[DecodedEvent]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for ev in events:
        if isinstance(ev, SpeakerEvent):
            out.append((ev.name, ""))
        elif isinstance(ev, CharEvent):
            out[-1] = (out[-1][0], out[-1][1] + ev.char)
    return out


@given(
    script=st.lists(turns, min_size=1, max_size=4),
    sizes=st.lists(st.integers(1, 7000), min_size=1, max_size=8),
    noise=st.floats(0, 150),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip_any_chunking_with_low_noise(
    script: list[ScriptTurn], sizes: list[int], noise: float, seed: int
) -> None:
    pcm = add_noise(encode(script), noise, seed)
    events = feed_chunked(pcm, sizes)
    assert turns_of(events) == [(t.speaker, t.text) for t in script]
    assert sum(isinstance(e, EndMarkEvent) for e in events) == len(script)
    assert not any(isinstance(e, SpeechEvent) for e in events)


def test_every_aci_bench_dialogue_round_trips(aci_dialogues: list[Dialogue]) -> None:
    for d in aci_dialogues:
        script = script_from_dialogue(d, pause_ms=1200)
        assert decode(encode(script)) == script, d.encounter_id


def test_one_byte_chunks_and_50ms_chunks() -> None:
    script = [ScriptTurn("doctor", "any pain ? 7/10, since 2019."), ScriptTurn("patient", "yes")]
    pcm = encode(script)
    expected = [(t.speaker, t.text) for t in script]
    assert turns_of(feed_chunked(pcm, [1])) == expected
    assert turns_of(feed_chunked(pcm, [1600])) == expected
    assert turns_of(feed_chunked(pcm, [1599, 3, 17])) == expected


def test_events_carry_audio_time() -> None:
    pcm = encode([ScriptTurn("dr", "ab", pause_ms=1000), ScriptTurn("pt", "c", pause_ms=0)])
    events = feed_chunked(pcm, [3200])
    speaker = next(e for e in events if isinstance(e, SpeakerEvent))
    assert (speaker.start_ms, speaker.end_ms) == (0, 80)  # start, 'd', 'r', end: 4 x 20 ms
    chars = [e for e in events if isinstance(e, CharEvent)]
    assert [(c.char, c.start_ms, c.end_ms) for c in chars[:2]] == [("a", 80, 100), ("b", 100, 120)]
    silence = sum(e.end_ms - e.start_ms for e in events if isinstance(e, SilenceEvent))
    assert silence == 1000
    assert chars[2].start_ms == 140 + 1000 + 80


def test_characters_outside_printable_ascii_become_question_marks() -> None:
    script = [ScriptTurn("doctor", "naïve café — ok\n")]
    assert decode(encode(script))[0].text == "na?ve caf? ? ok?"


def test_invalid_scripts_are_refused() -> None:
    with pytest.raises(ValueError):
        encode([ScriptTurn("", "x")])
    with pytest.raises(ValueError):
        encode([ScriptTurn("x" * 33, "x")])
    with pytest.raises(ValueError):
        encode([ScriptTurn("dr", "x", pause_ms=-1)])
    with pytest.raises(ValueError):
        encode([ScriptTurn("dr", "x")], sample_rate=8000)


def test_joining_mid_turn_never_yields_speaker_name_as_text() -> None:
    script = [ScriptTurn("doctor", "first turn text"), ScriptTurn("patient", "second one")]
    pcm = encode(script)
    for offset_samples in (1, 37, 100, 250, 1111, 2500):
        events = feed_chunked(pcm[offset_samples * 2 :], [1600])
        text = "".join(e.char for e in events if isinstance(e, CharEvent))
        speakers = [e.name for e in events if isinstance(e, SpeakerEvent)]
        assert text.endswith("second one")
        assert "doctor" not in text
        assert "first turn text".endswith(text.removesuffix("second one")), offset_samples
        assert speakers[-1] == "patient"


def test_real_speech_like_audio_is_detected_as_speech_not_text() -> None:
    rng = np.random.default_rng(7)
    parts = []
    for _ in range(4):  # bursts of broadband noise with pauses: an energy detector's job
        parts.append(rng.normal(0, 4000, 8000))
        parts.append(np.zeros(8000))
    pcm = np.clip(np.concatenate(parts), -32768, 32767).astype("<i2").tobytes()
    events = feed_chunked(pcm, [1600])
    assert not any(isinstance(e, CharEvent | SpeakerEvent) for e in events)
    speech_ms = sum(e.end_ms - e.start_ms for e in events if isinstance(e, SpeechEvent))
    assert 1800 <= speech_ms <= 2100
    assert decode(pcm)[0].text.startswith("[speech ")


def _tone(hz: float, seconds: float, amplitude: float = 12000) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return amplitude * np.cos(2 * np.pi * hz * t)


@pytest.mark.parametrize("lead_silence_s", [0.0, 0.5])
@pytest.mark.parametrize("hz", [400.0, 1000.0, 1234.0])
def test_steady_tones_and_hums_are_speech_never_text(lead_silence_s: float, hz: float) -> None:
    # A beep at the speaker-header frequency, at a character frequency, off the grid; and a
    # hum with harmonics: none may come back as words, at a stream's start or later.
    hum = _tone(200, 1.0, 3000) + _tone(400, 1.0, 8000) + _tone(600, 1.0, 2000)
    for sound in (_tone(hz, 1.0), hum):
        x = np.concatenate([np.zeros(int(16000 * lead_silence_s)), sound, np.zeros(8000)])
        events = feed_chunked(x.astype("<i2").tobytes(), [1600])
        assert not any(isinstance(e, CharEvent | SpeakerEvent | EndMarkEvent) for e in events)
        assert sum(e.end_ms - e.start_ms for e in events if isinstance(e, SpeechEvent)) >= 900


def _mulaw_encode(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def test_mulaw_audio_decodes_after_conversion() -> None:
    script = [ScriptTurn("doctor", "mu-law works too.")]
    pcm = mulaw_to_pcm16(_mulaw_encode(encode(script)))
    assert decode(pcm) == [ScriptTurn("doctor", "mu-law works too.", 1200)]


def test_wav_and_script_files(tmp_path: Path) -> None:
    script = [ScriptTurn("doctor", "hello .", 400), ScriptTurn("patient", "hi", 1200)]
    dump_script(script, tmp_path / "s.json")
    assert load_script(tmp_path / "s.json") == script
    pcm = encode(script)
    write_wav(tmp_path / "v.wav", pcm)
    assert read_wav(tmp_path / "v.wav") == (pcm, 16000)
    (tmp_path / "bad.json").write_text('{"turns": [{"text": "no speaker"}]}')
    with pytest.raises(ValueError, match="not a script"):
        load_script(tmp_path / "bad.json")
