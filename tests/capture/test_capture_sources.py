"""Audio sources: WAV layouts, stdin, and the microphone's install hint (no sound card)."""

from __future__ import annotations

import asyncio
import io
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis as sync_redis

from services.capture.sources import (
    FRAME_BYTES,
    SourceError,
    StdinSource,
    WavFileSource,
)
from shared.contracts import EncounterStarted, StreamNames, decode_audio, decode_control
from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env


async def _collect(source: WavFileSource | StdinSource) -> list[bytes]:
    return [frame async for frame in source.frames()]


@pytest.mark.parametrize("width", [1, 2, 4])
def test_integer_widths_convert_to_pcm16(
    make_wav: Callable[..., tuple[Path, bytes]], width: int
) -> None:
    path, _ = make_wav(seconds=0.5, width=width, seed=3)
    _, reference = make_wav(seconds=0.5, width=2, seed=3, name="ref.wav")
    frames = asyncio.run(_collect(WavFileSource(path, speed=None)))
    got = np.frombuffer(b"".join(frames), dtype="<i2").astype(int)
    want = np.frombuffer(reference, dtype="<i2").astype(int)
    assert len(got) == len(want) == 8000
    assert np.max(np.abs(got - want)) <= (256 if width == 1 else 1)


def test_stereo_44k_becomes_16k_mono_with_the_same_tone(tmp_path: Path) -> None:
    rate = 44100
    t = np.arange(rate * 2) / rate
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, left], axis=1).reshape(-1)
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((stereo * 32767).astype("<i2").tobytes())
    source = WavFileSource(path, speed=None)
    assert not source.passthrough
    frames = asyncio.run(_collect(source))
    assert all(len(f) == FRAME_BYTES for f in frames[:-1])
    samples = np.frombuffer(b"".join(frames), dtype="<i2") / 32768
    assert abs(len(samples) - 32000) <= 1
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 16000 / len(samples) - 440) < 2
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(len(samples)) / 16000)
    assert np.max(np.abs(samples[200:-200] - expected[200:-200])) < 0.01


def test_unreadable_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        WavFileSource(tmp_path / "nope.wav")
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    with pytest.raises(SourceError, match="not a readable integer-PCM WAV file"):
        WavFileSource(text)


def test_stdin_source_reads_whole_samples() -> None:
    data = bytes(range(256)) * 25 + b"\x01\x02\x03"  # 6403 bytes: an odd tail byte
    frames = asyncio.run(_collect(StdinSource(io.BytesIO(data))))
    assert [len(f) for f in frames] == [1600, 1600, 1600, 1600, 2]
    assert b"".join(frames) == data[:-1]


def test_cli_stdin_to_redis(
    tmp_path: Path, redis_url: str, names: StreamNames, stream_prefix: str
) -> None:
    pcm = np.random.default_rng(7).integers(-3000, 3000, 16000).astype("<i2").tobytes()
    proc = subprocess.run(
        [*medscribe_cmd(), "capture", "--stdin", "--llm-model", "m"]
        + ["--spool-dir", str(tmp_path / "spool"), "--redis-url", redis_url],
        input=pcm,
        env=subprocess_env(MEDSCRIBE_STREAM_PREFIX=stream_prefix),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    client = sync_redis.Redis.from_url(redis_url)
    try:
        started = decode_control(client.xrange(names.control)[0][1])
        assert isinstance(started, EncounterStarted)
        frames = [decode_audio(f) for _id, f in client.xrange(names.audio(started.encounter_id))]
    finally:
        client.close()
    assert b"".join(f.pcm for f in frames) == pcm
    assert [f.seq for f in frames] == list(range(20))


def test_dry_run_checks_source_redis_and_spool(
    tmp_path: Path, redis_url: str, make_wav: Callable[..., tuple[Path, bytes]]
) -> None:
    wav, _ = make_wav(seconds=1.0)
    base = [*medscribe_cmd(), "capture", "--file", str(wav), "--dry-run"]
    base += ["--spool-dir", str(tmp_path / "spool")]
    ok = subprocess.run(
        [*base, "--redis-url", redis_url], env=subprocess_env(), capture_output=True, timeout=60
    )
    assert ok.returncode == 0, ok.stdout
    lines = ok.stdout.decode().splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["ok", "audio"],
        ["ok", "redis"],
        ["ok", "spool"],
        ["ok", "config"],
    ]
    down = f"redis://capture:t0p-secret@127.0.0.1:{free_port()}/0"
    bad = subprocess.run(
        [*base, "--redis-url", down], env=subprocess_env(), capture_output=True, timeout=60
    )
    assert bad.returncode == 1
    out = bad.stdout.decode()
    assert "FAIL redis" in out
    assert "capture:***@127.0.0.1" in out
    assert "t0p-secret" not in out + bad.stderr.decode()
