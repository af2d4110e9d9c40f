"""The microphone path with real PyAudio and PortAudio, no sound card: ALSA's `file`
plugin plays a raw file as the capture device (libraries.md §4)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis as sync_redis

from services.capture.sources import MIC_INSTALL_HINT, MicUnavailable
from shared.contracts import (
    EncounterStarted,
    EncounterStopped,
    StreamNames,
    decode_audio,
    decode_control,
)
from tests.helpers.procs import medscribe_cmd, subprocess_env

HAS_PYAUDIO = importlib.util.find_spec("pyaudio") is not None
needs_pyaudio = pytest.mark.skipif(
    not HAS_PYAUDIO,
    reason="pyaudio not installed (apt-get install portaudio19-dev; pip install pyaudio)",
)


def _alsa_home(tmp_path: Path, pcm: bytes) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    infile = tmp_path / "mic.raw"
    infile.write_bytes(pcm)
    (home / ".asoundrc").write_text(
        'pcm.!default { type plug; slave.pcm "f" }\n'
        f'pcm.f {{ type file; slave.pcm "null"; file "/dev/null"; infile "{infile}"; '
        'format "raw" }\n'
        "pcm.null { type null }\n"
    )
    return home


def test_missing_pyaudio_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyaudio", None)  # import now fails as if absent
    from services.capture.mic import MicSource

    with pytest.raises(MicUnavailable) as err:
        MicSource()
    assert str(err.value) == MIC_INSTALL_HINT
    assert "pip install 'medscribe[mic]'" in MIC_INSTALL_HINT
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "pyaudio.py").write_text("raise ImportError('hidden for this test')\n")
    env = subprocess_env()
    env["PYTHONPATH"] = f"{shim}:{env['PYTHONPATH']}"
    for args in (["capture", "--llm-model", "m"], ["capture", "--list-devices"]):
        proc = subprocess.run(
            [*medscribe_cmd(), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == 2
        assert proc.stderr.decode().strip() == f"medscribe: {MIC_INSTALL_HINT}"


@needs_pyaudio
def test_mic_frames_reach_redis_unchanged(
    tmp_path: Path, redis_url: str, names: StreamNames, stream_prefix: str
) -> None:
    pcm = np.random.default_rng(11).integers(-9000, 9000, 16000 * 4).astype("<i2").tobytes()
    env = subprocess_env(
        HOME=str(_alsa_home(tmp_path, pcm)),
        MEDSCRIBE_STREAM_PREFIX=stream_prefix,
        MEDSCRIBE_REDIS_URL=redis_url,
        # The ALSA file device is not paced: past its input it yields silence as fast as the
        # CPU allows, so a Ctrl-C would land at a random point (or after the visit ended).
        # The visit cap ends the recording instead, after exactly 10 s of audio.
        MEDSCRIBE_MAX_VISIT_S="10",
    )
    listing = subprocess.run(
        [*medscribe_cmd(), "capture", "--list-devices"], env=env, capture_output=True, timeout=60
    )
    assert listing.returncode == 0
    assert b"default" in listing.stdout
    wrong = subprocess.run(
        [*medscribe_cmd(), "capture", "--device", "no-such-mic", "--llm-model", "m"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert wrong.returncode == 2
    assert b"no input device named like 'no-such-mic' (see --list-devices)" in wrong.stderr

    check = subprocess.run(
        [*medscribe_cmd(), "capture", "--device", "default", "--dry-run"]
        + ["--spool-dir", str(tmp_path / "spool")],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout
    assert b"ok   audio    microphone default: " in check.stdout
    assert b"dBFS" in check.stdout

    agent = subprocess.Popen(
        [*medscribe_cmd(), "capture", "--device", "default", "--llm-model", "m"]
        + ["--spool-dir", str(tmp_path / "spool")],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = sync_redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 60
        while client.xlen(names.control) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        started = decode_control(client.xrange(names.control)[0][1])
        assert isinstance(started, EncounterStarted)
        audio = names.audio(started.encounter_id)
        assert agent.wait(60) == 0  # stopped by the cap, all audio delivered
        frames = [decode_audio(f) for _id, f in client.xrange(audio)]
        stop = decode_control(client.xrange(names.control)[-1][1])
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        client.close()
    assert isinstance(stop, EncounterStopped)
    assert stop.last_frame_seq == len(frames) - 1
    assert len(frames) == 200  # 10 s of 50 ms frames
    assert all(len(f.pcm) == 1600 for f in frames)
    # The file device is not paced like a real mic, so PortAudio may run ahead of the
    # loop; the first frames (far fewer than the queue holds) must be exactly the input.
    assert b"".join(f.pcm for f in frames[:40]) == pcm[: 40 * 1600]
