"""Audio sources: each yields PCM16LE mono 16 kHz frames of 800 samples (50 ms).

The last frame of a file may be shorter (never padded, so the audio in Redis is exactly
the file's). Sources are async iterators; the mic runs PortAudio in its own thread.
"""

from __future__ import annotations

import asyncio
import sys
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from services.capture.resample import Resampler
from shared.errors import MedscribeError

SAMPLE_RATE = 16000
FRAME_SAMPLES = 800
FRAME_BYTES = FRAME_SAMPLES * 2
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE

MIC_INSTALL_HINT = (
    "microphone capture needs PyAudio: pip install 'medscribe[mic]' "
    "(on Debian/Ubuntu first: sudo apt-get install portaudio19-dev)"
)


class SourceError(MedscribeError):
    """An audio source that cannot be opened or read; the message is safe to show."""


class MicUnavailable(SourceError):
    """PyAudio is missing or no usable input device exists."""


class AudioSource(Protocol):
    """Async iterator of PCM frames; ``close()`` stops it early (Ctrl+C)."""

    description: str

    def frames(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class _Pacer:
    """Sleeps so frame *n* is released at ``start + n * 50 ms / speed`` (no drift)."""

    def __init__(self, speed: float | None) -> None:
        self.speed = speed
        self.start = time.monotonic()
        self.count = 0

    async def wait(self) -> None:
        self.count += 1
        if self.speed is None:
            await asyncio.sleep(0)  # --speed max: still let the writer and view run
            return
        due = self.start + self.count * FRAME_SECONDS / self.speed
        delay = due - time.monotonic()
        await asyncio.sleep(max(0.0, delay))


def _to_float(raw: bytes, width: int) -> np.ndarray:
    """Interleaved integer PCM of 1-4 bytes per sample to float64 in [-1, 1)."""
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float64) / float(1 << 23)
    return np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)


def _to_pcm16(samples: np.ndarray) -> bytes:
    clipped = np.clip(np.round(samples * 32768.0), -32768, 32767)
    return clipped.astype("<i2").tobytes()


class WavFileSource:
    """A WAV file (8/16/24/32-bit integer PCM, any rate and channel count) as 16 kHz mono.

    A file that is already 16 kHz mono 16-bit passes through byte for byte. ``speed`` is
    the playback speed (1 = real time); ``None`` means as fast as possible.
    """

    def __init__(self, path: Path, speed: float | None = 1.0) -> None:
        self.path = path
        self.speed = speed
        self._closed = False
        try:
            with wave.open(str(path), "rb") as w:
                self.rate = w.getframerate()
                self.channels = w.getnchannels()
                self.width = w.getsampwidth()
                self.nframes = w.getnframes()
        except FileNotFoundError:
            raise SourceError(f"audio file {path} does not exist") from None
        except (wave.Error, EOFError) as err:
            raise SourceError(
                f"{path} is not a readable integer-PCM WAV file ({err}); "
                "convert it, e.g. `ffmpeg -i in -ar 16000 -ac 1 -sample_fmt s16 out.wav`"
            ) from None
        if self.width not in (1, 2, 3, 4) or self.channels < 1 or self.rate < 1000:
            raise SourceError(f"{path}: unsupported WAV layout")
        self.passthrough = self.rate == SAMPLE_RATE and self.channels == 1 and self.width == 2
        self.description = f"file {path.name} ({self.rate} Hz, {self.channels} ch)"

    @property
    def duration_s(self) -> float:
        return self.nframes / self.rate

    def close(self) -> None:
        self._closed = True

    async def frames(self) -> AsyncIterator[bytes]:
        pacer = _Pacer(self.speed)
        pending = b""
        with wave.open(str(self.path), "rb") as w:
            resampler = None if self.passthrough else Resampler(self.rate, SAMPLE_RATE)
            block = max(FRAME_SAMPLES, self.rate // 10)
            while not self._closed:
                raw = w.readframes(block)
                if raw:
                    pending += self._convert(raw, resampler)
                else:
                    if resampler is not None:
                        pending += _to_pcm16(resampler.finish())
                        resampler = None
                while len(pending) >= FRAME_BYTES and not self._closed:
                    yield pending[:FRAME_BYTES]
                    pending = pending[FRAME_BYTES:]
                    await pacer.wait()
                if not raw:
                    break
        if pending and not self._closed:
            yield pending

    def _convert(self, raw: bytes, resampler: Resampler | None) -> bytes:
        if resampler is None:
            return raw
        samples = _to_float(raw, self.width).reshape(-1, self.channels).mean(axis=1)
        return _to_pcm16(resampler.process(samples))


class StdinSource:
    """Raw PCM16LE mono 16 kHz on standard input (e.g. `arecord -f S16_LE -r 16000 -t raw`)."""

    description = "stdin (raw PCM16LE 16 kHz mono)"

    def __init__(self, stream: BinaryIO | None = None, speed: float | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.speed = speed
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def _read_frame(self) -> bytes:
        buf = b""
        while len(buf) < FRAME_BYTES:
            chunk = self.stream.read(FRAME_BYTES - len(buf))
            if not chunk:
                break
            buf += chunk
        return buf

    async def frames(self) -> AsyncIterator[bytes]:
        pacer = _Pacer(self.speed)
        carry = b""
        while not self._closed:
            data = carry + await asyncio.to_thread(self._read_frame)
            if len(data) % 2:  # keep whole samples; an odd tail byte waits for its pair
                data, carry = data[:-1], data[-1:]
            else:
                carry = b""
            if not data:
                return
            yield data
            if len(data) < FRAME_BYTES - 1:
                return
            await pacer.wait()
