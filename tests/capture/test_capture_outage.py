"""Redis goes away mid-visit: capture continues into the spool, then every frame arrives
exactly once and in order (a private redis-server that the test stops and restarts)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from services.capture.config import CaptureSettings
from services.capture.service import StopSignals, run
from services.capture.sources import FRAME_BYTES, WavFileSource
from shared.contracts import EncounterStarted, EncounterStopped, StreamNames, decode_control
from shared.streams import make_redis
from tests.capture.capture_helpers import RecordingView, read_frames
from tests.helpers.procs import RedisServer, redis_server_binary
from tests.kit.waiting import eventually

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="needs redis-server")


@pytest.mark.parametrize("appendonly", [True, False], ids=["aof", "no-persistence"])
async def test_redis_restart_mid_visit_loses_and_doubles_nothing(
    tmp_path: Path,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
    view: RecordingView,
    appendonly: bool,
) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=appendonly)
    server.start()
    redis = make_redis(server.url)
    try:
        path, pcm = make_wav(seconds=600.0)
        settings = settings_for(server.url)
        signals = StopSignals.create()
        task = asyncio.create_task(
            run(
                settings,
                WavFileSource(path, speed=20.0),
                redis,
                llm_model="m",
                view=view,
                signals=signals,
            )
        )
        await eventually(
            lambda: view.status is not None and view.status.frames_confirmed >= 100, every=0.02
        )
        status = view.status
        assert status is not None
        server.stop()
        # The agent keeps capturing while Redis is down: frames pile up on disk.
        await eventually(
            lambda: not status.online and status.spool_bytes > 100 * FRAME_BYTES, every=0.02
        )
        spooled_at = view.frames
        server.start()
        await eventually(
            lambda: status.online and status.frames_confirmed > spooled_at + 40, every=0.02
        )
        signals.stop.set()
        result = await asyncio.wait_for(task, 60)
        assert result.stop_reason == "stopped"

        frames = await read_frames(redis, names.audio(result.encounter_id))
        seqs = [f.seq for _id, f in frames]
        # Without persistence Redis forgot the first frames; the agent re-sent them from
        # its ring of recently confirmed frames (60 s), so the stream is complete anyway.
        assert seqs == list(range(result.last_frame_seq + 1))
        assert len(seqs) > spooled_at + 40
        assert b"".join(f.pcm for _id, f in frames) == pcm[: len(seqs) * FRAME_BYTES]
        assert result.delivered
        assert result.status.lost_in_redis == 0
        control = [decode_control(f) for _id, f in await redis.xrange(names.control)]
        assert isinstance(control[0], EncounterStarted)
        assert isinstance(control[-1], EncounterStopped)
        assert control[-1].last_frame_seq == result.last_frame_seq
        assert sum(isinstance(c, EncounterStopped) for c in control) == 1
        assert list(settings.spool_dir.iterdir()) == []
    finally:
        await redis.aclose()
        server.stop()


async def test_redis_down_at_the_end_keeps_the_visit_in_the_spool(
    tmp_path: Path,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
) -> None:
    from services.capture.recovery import recover_spools

    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    server.stop()  # never reachable during the visit
    redis = make_redis(server.url)
    try:
        path, pcm = make_wav(seconds=3.0)
        settings = settings_for(server.url)
        result = await run(
            settings, WavFileSource(path, speed=None), redis, llm_model="m", stop_timeout=0.5
        )
        assert not result.delivered
        assert result.last_frame_seq == 59
        (spooled,) = list(settings.spool_dir.iterdir())
        assert (spooled / "stopped").exists()

        server.start()
        assert await recover_spools(redis, settings.spool_dir, asyncio.Event()) == 1
        frames = await read_frames(redis, names.audio(result.encounter_id))
        assert [f.seq for _id, f in frames] == list(range(60))
        assert b"".join(f.pcm for _id, f in frames) == pcm
        control = [decode_control(f) for _id, f in await redis.xrange(names.control)]
        assert [type(c).__name__ for c in control] == ["EncounterStarted", "EncounterStopped"]
        assert list(settings.spool_dir.iterdir()) == []
    finally:
        await redis.aclose()
        server.stop()


async def test_next_visit_sends_the_previous_visits_spool(
    tmp_path: Path,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    server.stop()
    redis = make_redis(server.url)
    try:
        first_wav, first_pcm = make_wav(seconds=2.0, seed=1, name="first.wav")
        settings = settings_for(server.url)
        first = await run(
            settings, WavFileSource(first_wav, speed=None), redis, llm_model="m", stop_timeout=0.2
        )
        assert not first.delivered
        server.start()
        second_wav, _ = make_wav(seconds=0.5, seed=2, name="second.wav")
        second = await run(settings, WavFileSource(second_wav, speed=None), redis, llm_model="m")
        assert second.delivered
        frames = await read_frames(redis, names.audio(first.encounter_id))
        assert b"".join(f.pcm for _id, f in frames) == first_pcm
        control = [decode_control(f) for _id, f in await redis.xrange(names.control)]
        stops = {c.encounter_id: c for c in control if isinstance(c, EncounterStopped)}
        assert stops[first.encounter_id].last_frame_seq == 39
        assert stops[second.encounter_id].last_frame_seq == 9
        assert list(settings.spool_dir.iterdir()) == []
    finally:
        await redis.aclose()
        server.stop()


async def test_a_stop_while_the_spool_syncs_counts_the_frame_it_kept(
    tmp_path: Path,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
    view: RecordingView,
) -> None:
    """Offline, every frame is spooled and then synced (in a thread): a stop that lands
    during the sync must still count the frame already in the spool, or the visit's
    EncounterStopped names one frame fewer than was recorded."""
    from services.capture.recovery import recover_spools

    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    server.stop()  # never reachable during the visit: every frame goes to the spool
    redis = make_redis(server.url)
    try:
        path, _pcm = make_wav(seconds=600.0)
        settings = settings_for(server.url, spool_fsync_frames=1)
        signals = StopSignals.create()
        task = asyncio.create_task(
            run(
                settings,
                WavFileSource(path, speed=None),  # as fast as it reads: it waits only on syncs
                redis,
                llm_model="m",
                view=view,
                signals=signals,
                stop_timeout=0.2,
            )
        )
        await eventually(lambda: view.frames >= 30, every=0.005)
        signals.stop.set()
        result = await asyncio.wait_for(task, 60)
        assert result.stop_reason == "stopped"
        assert not result.delivered

        server.start()
        assert await recover_spools(redis, settings.spool_dir, asyncio.Event()) == 1
        frames = await read_frames(redis, names.audio(result.encounter_id))
        control = [decode_control(f) for _id, f in await redis.xrange(names.control)]
        assert isinstance(control[-1], EncounterStopped)
        assert [f.seq for _id, f in frames] == list(range(result.last_frame_seq + 1))
        assert control[-1].last_frame_seq == result.last_frame_seq
    finally:
        await redis.aclose()
        server.stop()
