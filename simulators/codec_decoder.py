"""Streaming decoder of tone-coded audio (format in `simulators.codec`).

Cost matters (one simulator process serves 100+ real-time sessions): the work per chunk is
one vectorised FFT over the whole symbols that arrived, plus a little Python per symbol.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

SYMBOL_HZ = 50  # 20 ms symbols, 50 Hz bin spacing
FIRST_BIN = 8  # lowest tone: 400 Hz
SYM_SPK_START, SYM_SPK_END, SYM_END_MARK = 0, 1, 2
FIRST_CHAR = 3
N_SYMBOLS = FIRST_CHAR + 95  # printable ASCII 32..126
MAX_NAME_LEN = 32
ONSET_THRESHOLD = 2000  # |sample| that starts a voiced segment after silence
SILENCE_RMS = 500.0  # a frame quieter than this is silence (noise floor tolerated below it)
MIN_PURITY = 0.6  # share of frame power in the peak bin for a tone symbol
_ALIGN_FRAMES = 6  # frames used to find the symbol grid of a stream starting mid-turn


def char_symbol(c: str) -> int:
    o = ord(c)
    return FIRST_CHAR + (o - 32) if 32 <= o <= 126 else FIRST_CHAR + (ord("?") - 32)


@dataclass(frozen=True, slots=True)
class CharEvent:
    char: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class SpeakerEvent:
    """A turn header: the speaker's name as encoded (labels A, B... are the server's job)."""

    name: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class EndMarkEvent:
    """The speaker finished the turn (the codec's stand-in for falling intonation)."""

    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class SilenceEvent:
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class SpeechEvent:
    """Loud audio that is not tone-coded (e.g. a real recording): energy detector output."""

    start_ms: int
    end_ms: int


DecodedEvent = CharEvent | SpeakerEvent | EndMarkEvent | SilenceEvent | SpeechEvent


class _Mode(Enum):
    IDLE = 0  # in silence, looking for an onset
    PENDING = 1  # onset found, segment not yet classified
    CODED = 2
    SPEECH = 3


class StreamDecoder:
    """Feed PCM16LE bytes in any chunking; get events in audio order."""

    def __init__(self, sample_rate: int = 16000) -> None:
        self.sample_rate = sample_rate
        self.n = sample_rate // SYMBOL_HZ
        self.codable = sample_rate % SYMBOL_HZ == 0 and sample_rate >= 12000
        self._buf = np.zeros(0, dtype=np.float32)
        self._pos = 0  # absolute sample index of _buf[0]
        self._odd = b""
        self._mode = _Mode.IDLE
        self._silence_from = 0
        self._name: list[str] | None = None  # collecting a speaker header
        self._name_start = 0
        self._bad = 0  # consecutive unclean symbols in a coded segment
        self._held: list[CharEvent] | None = None  # headerless segment: maybe a name tail
        self._held_start = 0

    @property
    def position_ms(self) -> int:
        """Audio time up to which the stream has been analysed."""
        return self._ms(self._pos)

    def _ms(self, sample: int) -> int:
        return sample * 1000 // self.sample_rate

    def feed(self, pcm: bytes) -> list[DecodedEvent]:
        data = self._odd + pcm
        cut = len(data) - (len(data) % 2)
        self._odd = data[cut:]
        if cut:
            new = np.frombuffer(data[:cut], dtype="<i2").astype(np.float32)
            self._buf = np.concatenate((self._buf, new)) if self._buf.size else new
        return self._process(final=False)

    def flush(self) -> list[DecodedEvent]:
        """End of stream: analyse what is left (a partial symbol is zero-padded)."""
        self._odd = b""
        rest = self._buf.size % self.n
        if rest and self._mode is not _Mode.IDLE:
            self._buf = np.concatenate((self._buf, np.zeros(self.n - rest, np.float32)))
        out = self._process(final=True)
        self._release_held(out)
        if self._mode is not _Mode.IDLE or self._buf.size:
            self._consume(self._buf.size)
        return out

    # -- internals -------------------------------------------------------------------

    def _consume(self, k: int) -> None:
        self._buf = self._buf[k:]
        self._pos += k

    def _process(self, final: bool) -> list[DecodedEvent]:
        out: list[DecodedEvent] = []
        while self._buf.size:
            if self._mode is _Mode.IDLE:
                window = self._buf[: self.sample_rate]  # bounded scan: big feeds stay linear
                loud = np.flatnonzero(np.abs(window) > ONSET_THRESHOLD)
                end = int(loud[0]) if loud.size else window.size
                if end:
                    self._consume(end)
                    if self._ms(self._pos) > self._ms(self._silence_from):
                        out.append(SilenceEvent(self._ms(self._silence_from), self._ms(self._pos)))
                        self._silence_from = self._pos
                if not loud.size:
                    continue
                self._mode = _Mode.PENDING
            if self._mode is _Mode.PENDING and not self._classify(final):
                break
            if not self._frames(out):
                break
        return out

    def _spectra(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per frame: RMS, peak symbol index (-1 if none), peak purity."""
        rms = np.sqrt(np.mean(frames * frames, axis=1))
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        power[:, 0] = 0.0
        peak = np.argmax(power, axis=1)
        purity = power[np.arange(len(peak)), peak] / np.maximum(power.sum(axis=1), 1e-9)
        sym = peak - FIRST_BIN
        sym = np.where((sym >= 0) & (sym < N_SYMBOLS) & (purity >= MIN_PURITY), sym, -1)
        return rms, sym, purity

    def _classify(self, final: bool) -> bool:
        """Decide whether the segment at the buffer start is coded or speech; False = wait."""
        n = self.n
        if self._buf.size < n:
            if not final:
                return False
            self._mode = _Mode.SPEECH
            return True
        if not self.codable:
            self._mode = _Mode.SPEECH
            return True
        _, sym, _ = self._spectra(self._buf[None, :n])
        if sym[0] == SYM_SPK_START:
            self._mode = _Mode.CODED
            return True
        if self._pos >= n:
            # After a silence every coded turn starts with its header; only a stream that
            # begins mid-turn (a reconnect) needs the symbol grid searched.
            self._mode = _Mode.SPEECH
            return True
        need = n * (_ALIGN_FRAMES + 1)
        if self._buf.size < need and not final:
            return False
        k = max(1, min(_ALIGN_FRAMES, self._buf.size // n - 1))
        offset, score = self._align(k)
        if score >= 0.8:
            self._consume(offset)  # a partial symbol: part of a turn we joined late
            self._mode = _Mode.CODED
            self._held, self._held_start = [], self._pos
        else:
            self._mode = _Mode.SPEECH
        return True

    def _align(self, k: int) -> tuple[int, float]:
        n = self.n

        def score(offsets: list[int]) -> np.ndarray:
            idx = np.asarray(offsets)[:, None, None] + (np.arange(k) * n)[None, :, None]
            idx = idx + np.arange(n)[None, None, :]
            frames = self._buf[np.minimum(idx, self._buf.size - 1)].reshape(-1, n)
            _, _, purity = self._spectra(frames)
            return np.asarray(purity.reshape(len(offsets), k).mean(axis=1))

        coarse = list(range(0, n, 8))
        s = score(coarse)
        best = coarse[int(np.argmax(s))]
        fine = [o for o in range(best - 7, best + 8) if 0 <= o < n]
        s = score(fine)
        return fine[int(np.argmax(s))], float(s.max())

    def _frames(self, out: list[DecodedEvent]) -> bool:
        """Decode whole frames of the current segment; False when more audio is needed."""
        n = self.n
        count = min(self._buf.size // n, SYMBOL_HZ)  # at most 1 s per FFT batch
        if not count:
            return False
        rms, sym, _ = self._spectra(self._buf[: count * n].reshape(count, n))
        for i in range(count):
            start = self._pos
            end_ms = self._ms(start + n)
            if rms[i] < SILENCE_RMS:
                self._end_segment(out)
                self._silence_from = start
                self._consume(n)
                self._mode = _Mode.IDLE
                return True
            self._consume(n)
            if self._mode is _Mode.SPEECH:
                out.append(SpeechEvent(self._ms(start), end_ms))
            else:
                self._symbol(int(sym[i]), self._ms(start), end_ms, out)
        return True

    def _symbol(self, s: int, start_ms: int, end_ms: int, out: list[DecodedEvent]) -> None:
        in_header = self._name is not None
        if s < 0 or (s == SYM_SPK_START and in_header):
            # Not a clean symbol. In a header, or several in a row, this is not coded audio
            # (a hum or a whistle that looked like a tone): report it as speech from here on.
            self._bad += 1
            if in_header or self._bad >= 3:
                self._to_speech(self._name_start if in_header else start_ms, end_ms, out)
            else:
                self._text_char("?", start_ms, end_ms, out)  # a noise burst hit one symbol
            return
        self._bad = 0
        if s == SYM_SPK_START:
            self._release_held(out)
            self._name, self._name_start = [], start_ms
        elif s == SYM_SPK_END:
            if self._name is not None:
                out.append(SpeakerEvent("".join(self._name), self._name_start, end_ms))
            self._name = None
            self._held = None  # held characters were the tail of a speaker name
        elif s == SYM_END_MARK:
            self._release_held(out)
            self._name = None
            out.append(EndMarkEvent(start_ms, end_ms))
        elif self._name is not None:
            if len(self._name) >= MAX_NAME_LEN:
                self._to_speech(self._name_start, end_ms, out)
            else:
                self._name.append(chr(32 + s - FIRST_CHAR))
        else:
            self._text_char(chr(32 + s - FIRST_CHAR), start_ms, end_ms, out)

    def _text_char(self, ch: str, start_ms: int, end_ms: int, out: list[DecodedEvent]) -> None:
        if self._held is not None:
            held = self._held
            held.append(CharEvent(ch, start_ms, end_ms))
            if len(held) >= 5 and len({c.char for c in held[-5:]}) == 1:
                # A steady tone, not text: joining mid-turn must not turn a beep into words.
                self._to_speech(held[0].start_ms, end_ms, out)
            elif len(held) > MAX_NAME_LEN:
                self._release_held(out)
        else:
            out.append(CharEvent(ch, start_ms, end_ms))

    def _to_speech(self, start_ms: int, end_ms: int, out: list[DecodedEvent]) -> None:
        self._mode = _Mode.SPEECH
        self._name = self._held = None
        self._bad = 0
        out.append(SpeechEvent(start_ms, end_ms))

    def _release_held(self, out: list[DecodedEvent]) -> None:
        if self._held:
            out.extend(self._held)
        self._held = None

    def _end_segment(self, out: list[DecodedEvent]) -> None:
        self._release_held(out)
        self._name = None
        self._bad = 0
