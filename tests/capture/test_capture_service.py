"""The capture run loop against real Redis: frames, control events, stop handling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis

from services.capture.config import CaptureSettings
from services.capture.publisher import frame_entry_id
from services.capture.service import StopSignals, run
from services.capture.sources import FRAME_BYTES, WavFileSource
from shared.contracts import (
    EncounterStarted,
    EncounterStopped,
    StreamNames,
    decode_control,
)
from tests.capture.capture_helpers import RecordingView, read_frames
from tests.kit.waiting import eventually


async def _control(redis: aioredis.Redis, names: StreamNames) -> list[object]:
    return [decode_control(fields) for _id, fields in await redis.xrange(names.control)]


async def test_wav_frames_in_redis_are_byte_identical(
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
) -> None:
    # 2 s plus 123 samples: 40 full frames and a short last one (never padded).
    path, pcm = make_wav(seconds=2.0, extra_samples=123)
    settings = settings_for(redis_url, clinician="dr-lee")
    result = await run(
        settings, WavFileSource(path, speed=None), redis, llm_model="claude-sonnet-4-6"
    )

    frames = await read_frames(redis, names.audio(result.encounter_id))
    assert [f.seq for _id, f in frames] == list(range(41))
    assert [eid for eid, _f in frames] == [frame_entry_id(s) for s in range(41)]
    assert all(len(f.pcm) == FRAME_BYTES for _id, f in frames[:-1])
    assert b"".join(f.pcm for _id, f in frames) == pcm
    assert result.delivered
    assert result.last_frame_seq == 40

    control = await _control(redis, names)
    assert len(control) == 2
    started, stopped = control
    assert isinstance(started, EncounterStarted)
    assert started.encounter_id == result.encounter_id
    assert started.room == "exam-3"
    assert started.clinician == "dr-lee"
    assert started.llm_model == "claude-sonnet-4-6"
    assert started.stt.speech_model == "u3-rt-pro"
    assert started.stt.domain == "medical-v1"
    assert (started.stt.min_turn_silence, started.stt.max_turn_silence) == (800, 2000)
    assert started.stt.format_turns is None
    assert isinstance(stopped, EncounterStopped)
    assert stopped.last_frame_seq == 40
    # Nothing is left in the spool after a clean visit.
    assert list(settings.spool_dir.iterdir()) == []


async def test_resampled_file_reaches_redis_as_16k_mono(
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
) -> None:
    path, _pcm = make_wav(seconds=1.5, rate=44100, channels=2)
    result = await run(
        settings_for(redis_url), WavFileSource(path, speed=None), redis, llm_model="m"
    )
    frames = await read_frames(redis, names.audio(result.encounter_id))
    total = sum(len(f.pcm) for _id, f in frames) // 2
    assert abs(total - 24000) <= 1  # 1.5 s at 16 kHz
    assert result.last_frame_seq == len(frames) - 1 == 29


async def test_stop_signal_records_the_last_frame_written(
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
    view: RecordingView,
) -> None:
    path, pcm = make_wav(seconds=60.0)
    signals = StopSignals.create()
    task = asyncio.create_task(
        run(
            settings_for(redis_url),
            WavFileSource(path, speed=20.0),
            redis,
            llm_model="m",
            view=view,
            signals=signals,
        )
    )
    await eventually(
        lambda: view.status is not None and view.status.frames_confirmed >= 30, every=0.02
    )
    signals.stop.set()  # what Ctrl+C or SIGTERM does
    result = await asyncio.wait_for(task, 30)

    assert result.stop_reason == "stopped"
    frames = await read_frames(redis, names.audio(result.encounter_id))
    assert 30 <= len(frames) < 1200  # stopped well before the end of the file
    assert [f.seq for _id, f in frames] == list(range(len(frames)))
    assert b"".join(f.pcm for _id, f in frames) == pcm[: len(frames) * FRAME_BYTES]
    stopped = (await _control(redis, names))[-1]
    assert isinstance(stopped, EncounterStopped)
    assert stopped.last_frame_seq == len(frames) - 1 == result.last_frame_seq


async def test_universal_streaming_models_carry_their_turn_parameters(
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
) -> None:
    path, _ = make_wav(seconds=0.2)
    settings = settings_for(redis_url, speech_model="universal-streaming-english")
    await run(
        settings,
        WavFileSource(path, speed=None),
        redis,
        llm_model="gemini-2.5-flash",
        keyterms=("metformin", "lisinopril"),
    )
    started = (await _control(redis, names))[0]
    assert isinstance(started, EncounterStarted)
    assert started.stt.speech_model == "universal-streaming-english"
    assert started.stt.format_turns is True
    assert started.stt.end_of_turn_confidence_threshold == 0.6  # the guide's value
    assert started.stt.keyterms == ("metformin", "lisinopril")


async def test_empty_file_stops_with_minus_one(
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
) -> None:
    path, _ = make_wav(seconds=0.0)
    result = await run(
        settings_for(redis_url), WavFileSource(path, speed=None), redis, llm_model="m"
    )
    assert result.last_frame_seq == -1
    stopped = (await _control(redis, names))[-1]
    assert isinstance(stopped, EncounterStopped)
    assert stopped.last_frame_seq == -1
    assert await redis.xlen(names.audio(result.encounter_id)) == 0


async def test_visit_left_running_stops_at_the_length_cap(
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
) -> None:
    path, pcm = make_wav(seconds=3.0)
    settings = settings_for(redis_url).model_copy(update={"max_visit_s": 1})
    view = RecordingView()
    result = await run(settings, WavFileSource(path, speed=None), redis, llm_model="m", view=view)

    assert result.stop_reason == "max_duration"
    assert result.delivered
    frames = await read_frames(redis, names.audio(result.encounter_id))
    # Exactly one second (20 frames of 50 ms) was kept, byte for byte, and the stop says so.
    assert [f.seq for _id, f in frames] == list(range(20))
    assert b"".join(f.pcm for _id, f in frames) == pcm[: 20 * FRAME_BYTES]
    stopped = (await _control(redis, names))[-1]
    assert isinstance(stopped, EncounterStopped)
    assert stopped.last_frame_seq == 19
    assert any("reached 1 s" in n for n in view.notices)
