"""Redis refuses writes (maxmemory reached, noeviction): the capture agent spools to disk
and keeps capturing; once memory is freed every frame arrives exactly once and in order
(a private redis-server with a tiny maxmemory)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from services.capture.config import CaptureSettings
from services.capture.service import StopSignals, run
from services.capture.sources import FRAME_BYTES, WavFileSource
from shared.contracts import EncounterStopped, StreamNames, decode_control
from shared.streams import make_redis
from tests.capture.capture_helpers import RecordingView, read_frames
from tests.helpers.procs import RedisServer, redis_server_binary
from tests.kit.waiting import eventually

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="needs redis-server")

BALLAST = 8 * 1024 * 1024  # what the release job frees, in this test a plain string


async def test_oom_spools_then_delivers_everything_once_memory_is_freed(
    tmp_path: Path,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
    view: RecordingView,
) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    redis = make_redis(server.url)
    try:
        # In small pieces: one 8 MB command would leave a query buffer counted as used.
        for _ in range(BALLAST // 65536):
            await redis.append(f"{names.prefix}ballast", b"\0" * 65536)
        used = int((await redis.info("memory"))["used_memory"])
        # Room for a little audio, then Redis refuses every write.
        await redis.config_set("maxmemory-policy", "noeviction")
        await redis.config_set("maxmemory", str(used + 256 * 1024))
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
            lambda: view.status is not None and view.status.frames_confirmed >= 50, every=0.02
        )
        status = view.status
        assert status is not None
        # Memory runs out: Redis answers OOM, the agent goes on capturing to its spool.
        await eventually(
            lambda: not status.online and status.spool_bytes > 100 * FRAME_BYTES, every=0.02
        )
        assert status.last_error == "OutOfMemoryError"
        assert not task.done()
        spooled_at = view.frames
        # Memory is freed (as the release job does): the spool drains into Redis.
        await redis.delete(f"{names.prefix}ballast")
        await eventually(
            lambda: status.online and status.frames_confirmed > spooled_at + 40, every=0.02
        )
        signals.stop.set()
        result = await asyncio.wait_for(task, 60)
        assert result.stop_reason == "stopped"

        frames = await read_frames(redis, names.audio(result.encounter_id))
        seqs = [f.seq for _id, f in frames]
        assert seqs == list(range(result.last_frame_seq + 1))
        assert len(seqs) > spooled_at + 40
        assert b"".join(f.pcm for _id, f in frames) == pcm[: len(seqs) * FRAME_BYTES]
        assert result.delivered
        assert result.status.lost_in_redis == 0
        control = [decode_control(f) for _id, f in await redis.xrange(names.control)]
        assert sum(isinstance(c, EncounterStopped) for c in control) == 1
        assert list(settings.spool_dir.iterdir()) == []
    finally:
        await redis.aclose()
        server.stop()
