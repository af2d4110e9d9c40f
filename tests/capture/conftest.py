"""Fixtures of the capture tests: WAV files with known PCM, settings on a private prefix."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from services.capture.config import CaptureSettings
from tests.capture.capture_helpers import RecordingView

WavMaker = Callable[..., tuple[Path, bytes]]


@pytest.fixture
def make_wav(tmp_path: Path) -> WavMaker:
    """Write a WAV of seeded noise; returns its path and its raw PCM bytes."""

    def make(
        seconds: float = 2.0,
        rate: int = 16000,
        channels: int = 1,
        width: int = 2,
        seed: int = 1,
        name: str = "visit.wav",
        extra_samples: int = 0,
    ) -> tuple[Path, bytes]:
        rng = np.random.default_rng(seed)
        n = int(seconds * rate) + extra_samples
        samples = rng.integers(-20000, 20000, size=n * channels)
        if width == 2:
            raw = samples.astype("<i2").tobytes()
        elif width == 1:
            raw = ((samples >> 8) + 128).astype(np.uint8).tobytes()
        else:
            raw = (samples.astype("<i4") << 16).tobytes()
        path = tmp_path / name
        with wave.open(str(path), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(width)
            w.setframerate(rate)
            w.writeframes(raw)
        return path, raw

    return make


@pytest.fixture
def settings_for(tmp_path: Path, stream_prefix: str) -> Callable[..., CaptureSettings]:
    def build(redis_url: str, **extra: object) -> CaptureSettings:
        values: dict[str, object] = {
            "redis_url": redis_url,
            "stream_prefix": stream_prefix,
            "room": "exam-3",
            "spool_dir": tmp_path / "spool",
        }
        values.update(extra)
        return CaptureSettings(**values)  # type: ignore[arg-type]

    return build


@pytest.fixture
def view() -> RecordingView:
    return RecordingView()
