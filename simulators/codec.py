"""Tone-coded audio: scripts of (speaker, text, pause) turns as PCM16 that the STT simulator
can read back exactly, so every test and the demo know what "was said".

Format (all symbols are 20 ms pure tones on the 50 Hz grid, so one symbol is an integer
number of cycles and an FFT of an aligned symbol window shows a single bin):

    turn  := SPK_START name-chars SPK_END text-chars END_MARK  silence(pause_ms)

* Text and speaker names use printable ASCII (32..126). Any other character is encoded as
  `?` (documented fallback; ACI-Bench is pure ASCII). Names are at most 32 characters.
* Pauses are true digital silence, rounded to whole 20 ms symbols.
* Speech runs at 50 characters per second. Each tone starts at its cosine peak, so the first
  loud sample after a silence marks the symbol grid to the sample.

`StreamDecoder` reads any chunking of the byte stream (odd sizes included), tolerates
low-level noise, re-synchronises after every silence, and finds the symbol grid by search
when a stream starts in the middle of a turn (e.g. a reconnect). Loud audio that is not
tone-coded (real speech) comes back as `Speech` spans from a frame energy detector.
"""

from __future__ import annotations

import json
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulators.codec_decoder import (
    FIRST_BIN,
    MAX_NAME_LEN,
    N_SYMBOLS,
    SYM_END_MARK,
    SYM_SPK_END,
    SYM_SPK_START,
    SYMBOL_HZ,
    CharEvent,
    DecodedEvent,
    EndMarkEvent,
    SilenceEvent,
    SpeakerEvent,
    SpeechEvent,
    StreamDecoder,
    char_symbol,
)

if TYPE_CHECKING:
    from shared.acibench import Dialogue

__all__ = [
    "CharEvent",
    "DecodedEvent",
    "EndMarkEvent",
    "ScriptTurn",
    "SilenceEvent",
    "SpeakerEvent",
    "SpeechEvent",
    "StreamDecoder",
    "decode",
    "dump_script",
    "encode",
    "load_script",
    "mulaw_to_pcm16",
    "normalize_text",
    "read_wav",
    "script_from_dialogue",
    "write_wav",
]

AMPLITUDE = 13000  # ~ -8 dBFS: far above the noise the decoder must tolerate
SYMBOL_MS = 1000 // SYMBOL_HZ


@dataclass(frozen=True)
class ScriptTurn:
    speaker: str
    text: str
    pause_ms: int = 1200


def normalize_text(text: str) -> str:
    """What the codec can carry: printable ASCII; anything else becomes `?`."""
    return "".join(c if 32 <= ord(c) <= 126 else "?" for c in text)


def _symbol_table(sample_rate: int) -> np.ndarray:
    n = sample_rate // SYMBOL_HZ
    t = np.arange(n)
    bins = FIRST_BIN + np.arange(N_SYMBOLS)
    tones = AMPLITUDE * np.cos(2 * np.pi * bins[:, None] * t[None, :] / n)
    return np.round(tones).astype("<i2")


def _check_rate(sample_rate: int) -> None:
    if sample_rate % SYMBOL_HZ or sample_rate < 12000:
        raise ValueError("tone coding needs a sample rate >= 12000 Hz and a multiple of 50 Hz")


def encode(script: Sequence[ScriptTurn], sample_rate: int = 16000) -> bytes:
    """PCM16LE mono audio of the script."""
    _check_rate(sample_rate)
    table = _symbol_table(sample_rate)
    indices: list[int] = []
    for turn in script:
        name = normalize_text(turn.speaker)
        if not name or len(name) > MAX_NAME_LEN:
            raise ValueError(f"speaker names must have 1..{MAX_NAME_LEN} characters")
        if turn.pause_ms < 0:
            raise ValueError("pause_ms must be >= 0")
        indices.append(SYM_SPK_START)
        indices.extend(char_symbol(c) for c in name)
        indices.append(SYM_SPK_END)
        indices.extend(char_symbol(c) for c in normalize_text(turn.text))
        indices.append(SYM_END_MARK)
        indices.extend([-1] * round(turn.pause_ms / SYMBOL_MS))  # -1: silent symbol
    n = sample_rate // SYMBOL_HZ
    out = np.zeros((len(indices), n), dtype="<i2")
    idx = np.asarray(indices, dtype=np.int64)
    voiced = idx >= 0
    out[voiced] = table[idx[voiced]]
    return out.tobytes()


def decode(pcm: bytes, sample_rate: int = 16000) -> list[ScriptTurn]:
    """Offline decode of a whole recording into turns; `pause_ms` is the silence after each.

    Audio that is not tone-coded becomes turns of speaker `?` with text `[speech N.NN s]`
    (spans less than 300 ms apart count as one)."""
    dec = StreamDecoder(sample_rate)
    turns: list[ScriptTurn] = []
    speaker, text, open_turn = "?", "", False
    speech_ms, last_end = 0, -(10**9)  # voiced ms of the last speech turn; end of last sound

    def close() -> None:
        nonlocal open_turn, text
        if open_turn:
            turns.append(ScriptTurn(speaker, text, 0))
            open_turn, text = False, ""

    for ev in dec.feed(pcm) + dec.flush():
        if isinstance(ev, SilenceEvent):
            if turns and not open_turn:
                last = turns[-1]
                turns[-1] = ScriptTurn(
                    last.speaker, last.text, last.pause_ms + ev.end_ms - ev.start_ms
                )
            continue
        if isinstance(ev, SpeakerEvent):
            close()
            speaker, open_turn = ev.name, True
        elif isinstance(ev, CharEvent):
            text, open_turn = text + ev.char, True
        elif isinstance(ev, EndMarkEvent):
            close()
        else:  # SpeechEvent
            close()
            joined = bool(turns) and turns[-1].speaker == "?" and ev.start_ms - last_end < 300
            speech_ms = (speech_ms if joined else 0) + ev.end_ms - ev.start_ms
            if joined:
                turns.pop()
            turns.append(ScriptTurn("?", f"[speech {speech_ms / 1000:.2f} s]", 0))
        last_end = ev.end_ms
    close()
    return turns


def script_from_dialogue(d: Dialogue, pause_ms: int = 1200) -> list[ScriptTurn]:
    return [ScriptTurn(t.speaker, t.text, pause_ms) for t in d.turns]


def load_script(path: str | Path) -> list[ScriptTurn]:
    """Read `{"turns": [{"speaker", "text", "pause_ms"?}]}`; raises ValueError when malformed."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        turns = data["turns"]
        return [
            ScriptTurn(str(t["speaker"]), str(t["text"]), int(t.get("pause_ms", 1200)))
            for t in turns
        ]
    except (KeyError, TypeError, json.JSONDecodeError, AttributeError) as err:
        raise ValueError(f"not a script file ({type(err).__name__})") from None


def dump_script(script: Sequence[ScriptTurn], path: str | Path) -> None:
    turns = [{"speaker": t.speaker, "text": t.text, "pause_ms": t.pause_ms} for t in script]
    Path(path).write_text(json.dumps({"turns": turns}, indent=2) + "\n", encoding="utf-8")


def write_wav(path: str | Path, pcm: bytes, sample_rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """PCM16 mono bytes and the sample rate; multi-channel files are averaged to mono."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError("only 16-bit PCM WAV files are supported")
        channels, rate = w.getnchannels(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if channels == 1:
        return raw, rate
    samples = np.frombuffer(raw, dtype="<i2").reshape(-1, channels).mean(axis=1)
    return np.round(samples).astype("<i2").tobytes(), rate


def _mulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa << 3) + 0x84) << exponent
    value = magnitude - 0x84
    return np.where(sign != 0, -value, value).astype("<i2")


_MULAW = _mulaw_table()


def mulaw_to_pcm16(data: bytes) -> bytes:
    """G.711 mu-law bytes to PCM16LE (for `encoding=pcm_mulaw` sessions)."""
    return _MULAW[np.frombuffer(data, dtype=np.uint8)].tobytes()
