"""The spool and the writer's idempotence, on real files and a real Redis."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.capture.config import CaptureSettings
from services.capture.publisher import FrameWriter
from services.capture.recovery import recover_spools
from services.capture.service import run
from services.capture.sources import WavFileSource
from services.capture.spool import KIND_FRAME, EncounterSpool
from shared.contracts import StreamNames
from shared.streams import make_redis
from tests.capture.capture_helpers import read_frames
from tests.helpers.procs import free_port


def _spool(tmp_path: Path, encounter_id: str = "enc-1", prefix: str = "x:") -> EncounterSpool:
    meta = {"encounter_id": encounter_id, "stream_prefix": prefix}
    return EncounterSpool.create(tmp_path / "spool", encounter_id, meta)


def test_torn_tail_is_ignored_and_progress_survives(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    for seq in range(5):
        spool.append(KIND_FRAME, seq, bytes([seq]) * 1600)
    spool.close()
    with open(spool.path, "ab") as fh:  # a crash in the middle of the sixth record
        fh.write(b"MSR1F" + b"\x00" * 10)
    again = EncounterSpool(spool.dir)
    assert again.try_lock()
    again.open_existing()
    records = again.read(100)
    assert [r.seq for r in records] == [0, 1, 2, 3, 4]
    assert all(r.payload == bytes([r.seq]) * 1600 for r in records)
    again.confirm(records[2].end, durable=True)
    again.close()
    third = EncounterSpool(spool.dir)
    assert third.try_lock()
    third.open_existing()
    assert [r.seq for r in third.read(100)] == [3, 4]


def test_a_live_agents_spool_is_locked(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    assert not EncounterSpool(spool.dir).try_lock()
    spool.close()
    assert EncounterSpool(spool.dir).try_lock()


async def test_resending_written_frames_never_duplicates(
    tmp_path: Path, redis: aioredis.Redis, names: StreamNames
) -> None:
    stream = names.audio("enc-dup")
    spool = _spool(tmp_path, "enc-dup")
    writer = FrameWriter(redis, stream, spool, budget_bytes=1 << 30)
    task = asyncio.create_task(writer.run())
    for seq in range(10):
        await writer.add_frame(seq, bytes([seq]) * 1600)
    assert await writer.close(task, timeout=10)
    # A second writer re-sends 5..14, as after a connection lost before the replies.
    again = FrameWriter(redis, stream, _spool(tmp_path, "enc-dup2"), budget_bytes=1 << 30)
    task = asyncio.create_task(again.run())
    for seq in range(5, 15):
        await again.add_frame(seq, bytes([seq]) * 1600)
    assert await again.close(task, timeout=10)
    frames = await read_frames(redis, stream)
    assert [f.seq for _id, f in frames] == list(range(15))
    assert all(f.pcm == bytes([f.seq]) * 1600 for _id, f in frames)


async def test_full_spool_stops_recording_and_keeps_the_stop(
    tmp_path: Path,
    redis_url: str,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
) -> None:
    down_url = f"redis://127.0.0.1:{free_port()}/0"
    settings = settings_for(down_url, spool_budget_bytes=1024 * 1024)
    path, pcm = make_wav(seconds=60.0)  # 1.9 MB of audio for a 1 MiB budget
    down = make_redis(down_url)
    try:
        result = await run(
            settings, WavFileSource(path, speed=None), down, llm_model="m", stop_timeout=0.2
        )
    finally:
        await down.aclose()
    assert result.stop_reason == "spool_full"
    assert result.status.near_budget
    assert not result.delivered
    assert 500 < result.last_frame_seq < 700
    # Everything captured before the budget ran out reaches Redis later, with the stop.
    up = make_redis(redis_url)
    try:
        assert await recover_spools(up, settings.spool_dir, asyncio.Event()) == 1
    finally:
        await up.aclose()
    redis = make_redis(redis_url)
    try:
        frames = await read_frames(redis, names.audio(result.encounter_id))
        control = await redis.xrange(names.control)
    finally:
        await redis.aclose()
    assert [f.seq for _id, f in frames] == list(range(result.last_frame_seq + 1))
    assert b"".join(f.pcm for _id, f in frames) == pcm[: len(frames) * 1600]
    assert len(control) == 2


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=3200), min_size=1, max_size=30),
    cut=st.integers(min_value=0, max_value=10**6),
)
@hypothesis_settings(max_examples=40, deadline=None)
def test_any_truncation_yields_an_exact_prefix(sizes: list[int], cut: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spool = _spool(Path(tmp))
        payloads = [bytes([i % 256]) * n for i, n in enumerate(sizes)]
        for seq, payload in enumerate(payloads):
            spool.append(KIND_FRAME, seq, payload)
        size = spool.size
        spool.close()
        with open(spool.path, "r+b") as fh:  # a power cut anywhere in the file
            fh.truncate(cut % (size + 1))
        again = EncounterSpool(spool.dir)
        again.open_existing()
        got = again.read(1000)
        assert [r.payload for r in got] == payloads[: len(got)]
        assert [r.seq for r in got] == list(range(len(got)))
        again.close()
