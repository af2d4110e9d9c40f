"""Helpers of the bridge tests: play an encounter into Redis as a capture agent would,
run bridges in-process, read back the published turns."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis

from services.stt_bridge.config import BridgeSettings
from services.stt_bridge.service import Bridge
from shared.contracts import (
    AudioFrame,
    EncounterStarted,
    EncounterStopped,
    FinalTurn,
    MalformedEntry,
    StreamNames,
    SttSettings,
    decode,
    decode_control,
    encode_audio,
)
from shared.streams import publish
from simulators.codec import ScriptTurn, encode

FRAME_BYTES = 1600  # 50 ms at 16 kHz


def bridge_settings(redis_url: str, names: StreamNames, sim_url: str, **kw: Any) -> BridgeSettings:
    base: dict[str, Any] = {
        "redis_url": redis_url,
        "stream_prefix": names.prefix,
        "streaming_url": sim_url,
        "assemblyai_api_key": "sim-key",
        "pace_factor": 20.0,
        "lease_ms": 2000,
        "scan_every_s": 0.3,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.4,
        "rate_limit_backoff_s": 0.2,
        "terminate_timeout_s": 5.0,
        "stop_wait_s": 10.0,
        "health_port": 0,
    }
    base.update(kw)
    return BridgeSettings(**base)


def script_turns(texts: Sequence[tuple[str, str]], pause_ms: int = 1200) -> list[ScriptTurn]:
    return [ScriptTurn(speaker, text, pause_ms) for speaker, text in texts]


def frames_of(pcm: bytes, sizes: Sequence[int] = (FRAME_BYTES,)) -> list[bytes]:
    """Split audio into frames, cycling through ``sizes`` (bytes, even)."""
    out, i, k = [], 0, 0
    while i < len(pcm):
        n = sizes[k % len(sizes)]
        out.append(pcm[i : i + n])
        i += n
        k += 1
    return out


async def start_encounter(
    redis: aioredis.Redis, names: StreamNames, eid: str, stt: SttSettings | None = None
) -> None:
    msg = EncounterStarted(
        encounter_id=eid, room="room-1", stt=stt or SttSettings(), llm_model="claude-sonnet-4-6"
    )
    await publish(redis, names.control, msg)


async def play_frames(
    redis: aioredis.Redis,
    names: StreamNames,
    eid: str,
    frames: Sequence[bytes],
    *,
    pace_factor: float = 20.0,
    first_seq: int = 0,
    burst: int = 1,
) -> int:
    """XADD frames at (scaled) real time, ``burst`` frames at a time; returns the last seq."""
    seq = first_seq - 1
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    played_ms = 0.0
    for i in range(0, len(frames), burst):
        async with redis.pipeline(transaction=False) as pipe:
            for pcm in frames[i : i + burst]:
                seq += 1
                fields: Any = encode_audio(AudioFrame(seq=seq, pcm=pcm))
                pipe.xadd(names.audio(eid), fields)
                played_ms += len(pcm) / 32
            await pipe.execute()
        due = t0 + played_ms / 1000 / pace_factor
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
    return seq


async def stop_encounter(
    redis: aioredis.Redis, names: StreamNames, eid: str, last_frame_seq: int
) -> None:
    await publish(
        redis, names.control, EncounterStopped(encounter_id=eid, last_frame_seq=last_frame_seq)
    )


async def play_encounter(
    redis: aioredis.Redis,
    names: StreamNames,
    eid: str,
    pcm: bytes,
    *,
    stt: SttSettings | None = None,
    pace_factor: float = 20.0,
    sizes: Sequence[int] = (FRAME_BYTES,),
) -> int:
    await start_encounter(redis, names, eid, stt)
    last = await play_frames(redis, names, eid, frames_of(pcm, sizes), pace_factor=pace_factor)
    await stop_encounter(redis, names, eid, last)
    return last


def script_audio(turns: Sequence[ScriptTurn]) -> bytes:
    # Lead-in silence: a real visit does not start with a tone on the first sample.
    return b"\x00" * 16000 + encode(turns)


async def turns_of(redis: aioredis.Redis, names: StreamNames, eid: str) -> list[FinalTurn]:
    rows: Any = await redis.xrange(names.turns)
    turns = [decode(fields, FinalTurn) for _id, fields in rows]
    return [t for t in turns if t.encounter_id == eid]


async def control_messages(redis: aioredis.Redis, names: StreamNames) -> list[Any]:
    rows: Any = await redis.xrange(names.control)
    out = []
    for _id, fields in rows:
        with contextlib.suppress(MalformedEntry):  # tests also write bad entries
            out.append(decode_control(fields))
    return out


async def wait_for_outcome(
    redis: aioredis.Redis, names: StreamNames, eids: Sequence[str], timeout: float = 60.0
) -> dict[str, Any]:
    """Wait until every encounter has an EncounterTranscribed or EncounterFailed."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = {}
        for m in await control_messages(redis, names):
            if type(m).__name__ in ("EncounterTranscribed", "EncounterFailed"):
                found.setdefault(m.encounter_id, m)
        if all(e in found for e in eids):
            return found
        if asyncio.get_running_loop().time() > deadline:
            missing = [e for e in eids if e not in found]
            raise AssertionError(f"no outcome for {missing} within {timeout} s")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_bridge(settings: BridgeSettings, **kw: Any) -> AsyncIterator[Bridge]:
    """A bridge replica in this process, with its own Redis client; stopped on exit."""
    from shared.streams import make_redis

    client = make_redis(settings.redis_url)
    bridge = Bridge(settings, client, **kw)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        yield bridge
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await client.aclose()
