"""Something else wrote into the visit's audio stream (a bug, a wrong room's agent): its
entry's automatic id is larger than every frame id the agent uses, so Redis refuses them
with "equal or smaller". The agent must not take that for "already there" (found by the
chaos suite: it reported every frame delivered while none was); every frame must arrive."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.capture.config import CaptureSettings
from services.capture.publisher import stream_top_seq
from services.capture.service import run
from services.capture.sources import FRAME_BYTES, WavFileSource
from shared.contracts import MalformedEntry, StreamNames, decode_audio
from shared.streams import make_redis
from tests.capture.capture_helpers import RecordingView


async def test_frames_arrive_behind_a_foreign_entry(
    redis_url: str,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
    view: RecordingView,
) -> None:
    path, pcm = make_wav(seconds=3.0)
    redis = make_redis(redis_url)
    stream = names.audio("exam-3-foreign")
    try:
        await redis.xadd(stream, {"junk": "x"})  # newer id than any frame id "N-0"
        result = await run(
            settings_for(redis_url), WavFileSource(path, speed=None), redis, llm_model="m",
            view=view, encounter_id="exam-3-foreign",
        )  # fmt: skip
        assert result.delivered
        frames = []
        for _id, fields in await redis.xrange(stream):
            try:
                frames.append(decode_audio(fields))
            except MalformedEntry:
                continue  # the foreign entry
        assert [f.seq for f in frames] == list(range(result.last_frame_seq + 1))
        assert b"".join(f.pcm for f in frames) == pcm[: len(frames) * FRAME_BYTES]
        assert await stream_top_seq(redis, stream) == result.last_frame_seq
    finally:
        await redis.aclose()
