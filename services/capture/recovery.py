"""Finish encounters an earlier run left in the spool (agent killed, Redis down at exit).

Each leftover directory is locked (a directory still locked belongs to a live agent and is
skipped), flushed in order through the same idempotent writer, and closed with an
``EncounterStopped`` if the earlier run never recorded one (it was killed): the visit then
goes on to a transcript and note with every frame that was captured.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.capture.publisher import FrameWriter, stream_top_seq
from services.capture.spool import EncounterSpool
from shared.contracts import EncounterStopped, StreamNames, encode
from shared.logging import get_logger
from shared.streams import ReplicaWait
from shared.waiting import sleep_or_stop

log = get_logger(__name__)


def leftover_spools(spool_dir: Path) -> list[Path]:
    if not spool_dir.is_dir():
        return []
    return sorted(d for d in spool_dir.iterdir() if d.is_dir() and (d / "spool.bin").exists())


async def recover_spools(
    redis: aioredis.Redis,
    spool_dir: Path,
    stop: asyncio.Event,
    *,
    retry_s: float = 2.0,
    wait: ReplicaWait | None = None,
    settle_s: float = 3.0,
) -> int:
    """Flush every unlocked leftover spool until done or ``stop``; returns how many finished.

    Redis being down is not an error: each spool waits (retrying) until it answers. On
    Redis Cluster (``wait``) a spool is removed only once a replica holds its stop, as a
    live visit's end (``FrameWriter``): a primary that dies with the last of it unreplicated
    gets it again from the writer's ring.
    """
    finished = 0
    for directory in leftover_spools(spool_dir):
        if stop.is_set():
            break
        spool = EncounterSpool(directory)
        if not spool.try_lock():
            continue
        try:
            meta = spool.meta()
            encounter_id = str(meta["encounter_id"])
            names = StreamNames(str(meta["stream_prefix"]))
            # a room's own credentials may add control only to the room's stream (older
            # spools name none: the shared stream, as they were recorded)
            control = str(meta.get("control_stream") or names.control)
        except (FileNotFoundError, ValueError, KeyError, json.JSONDecodeError):
            log.error("spool_unreadable_skipped", file=str(directory))
            spool.close()
            continue
        spool.open_existing()
        writer = FrameWriter(
            redis,
            names.audio(encounter_id),
            spool,
            budget_bytes=1 << 62,  # only reading back: the budget applies to new audio
            start_spooling=True,
            wait=wait,
            settle_s=settle_s,
        )
        if await _recover_one(writer, encounter_id, control, stop, retry_s):
            finished += 1
    return finished


async def _recover_one(
    writer: FrameWriter, encounter_id: str, control: str, stop: asyncio.Event, retry_s: float
) -> bool:
    spool = writer.spool
    last_spooled = spool.last_frame_seq()
    log.info(
        "spool_recovery_started",
        encounter_id=encounter_id,
        spool_bytes=spool.size - spool.flushed,
        last_frame_seq=last_spooled,
    )
    task = asyncio.create_task(writer.run())
    if not spool.is_stopped():
        # Killed mid-visit: close the encounter with the last frame that reached Redis or
        # the spool. The stop goes through the writer, after every frame and (on a cluster)
        # with the same replica check as a visit's own stop.
        last = await _last_frame_seq(writer, last_spooled, encounter_id, stop, retry_s)
        if last is not None:
            stopped = EncounterStopped(encounter_id=encounter_id, last_frame_seq=last)
            await writer.add_control(control, encode(stopped), stop=True)
            log.warning(
                "encounter_stopped_by_recovery", encounter_id=encounter_id, last_frame_seq=last
            )
    sent = await writer.close(task, timeout=float(1 << 30), abort=stop)
    if sent and spool.is_stopped():
        spool.remove()
        log.info("spool_recovered", encounter_id=encounter_id)
        return True
    spool.close()  # stopped early: what is left stays spooled for the next run
    return False


async def _last_frame_seq(
    writer: FrameWriter, last_spooled: int, encounter_id: str, stop: asyncio.Event, retry_s: float
) -> int | None:
    """The newest frame in Redis or the spool; None when ``stop`` came first."""
    while True:
        try:
            return max(await stream_top_seq(writer.redis, writer.audio_stream), last_spooled)
        except (RedisError, OSError) as err:
            log.warning("spool_recovery_retry", encounter_id=encounter_id, error=type(err).__name__)
            if await sleep_or_stop(stop, retry_s):
                return None
