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
from shared.contracts import EncounterStopped, StreamNames
from shared.logging import get_logger
from shared.streams import publish
from shared.waiting import sleep_or_stop

log = get_logger(__name__)


def leftover_spools(spool_dir: Path) -> list[Path]:
    if not spool_dir.is_dir():
        return []
    return sorted(d for d in spool_dir.iterdir() if d.is_dir() and (d / "spool.bin").exists())


async def recover_spools(
    redis: aioredis.Redis, spool_dir: Path, stop: asyncio.Event, *, retry_s: float = 2.0
) -> int:
    """Flush every unlocked leftover spool until done or ``stop``; returns how many finished.

    Redis being down is not an error: each spool waits (retrying) until it answers.
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
        if await _recover_one(redis, spool, encounter_id, names, control, stop, retry_s):
            finished += 1
    return finished


async def _recover_one(
    redis: aioredis.Redis,
    spool: EncounterSpool,
    encounter_id: str,
    names: StreamNames,
    control: str,
    stop: asyncio.Event,
    retry_s: float,
) -> bool:
    spool.open_existing()
    last_spooled = spool.last_frame_seq()
    log.info(
        "spool_recovery_started",
        encounter_id=encounter_id,
        spool_bytes=spool.size - spool.flushed,
        last_frame_seq=last_spooled,
    )
    writer = FrameWriter(
        redis,
        names.audio(encounter_id),
        spool,
        budget_bytes=1 << 62,  # only reading back: the budget applies to new audio
        recent_frames=0,
        start_spooling=True,
    )
    task = asyncio.create_task(writer.run())
    if not await writer.close(task, timeout=float(1 << 30), abort=stop):
        spool.close()
        return False
    while not spool.is_stopped():
        # Killed mid-visit: close the encounter with the last frame that reached Redis.
        try:
            top = await stream_top_seq(redis, names.audio(encounter_id))
            last = max(top, last_spooled)
            await publish(
                redis,
                control,
                EncounterStopped(encounter_id=encounter_id, last_frame_seq=last),
            )
            spool.mark_stopped(last)
            log.warning(
                "encounter_stopped_by_recovery", encounter_id=encounter_id, last_frame_seq=last
            )
        except (RedisError, OSError) as err:
            log.warning("spool_recovery_retry", encounter_id=encounter_id, error=type(err).__name__)
            if not await sleep_or_stop(stop, retry_s):
                continue  # time ran out: retry
            spool.close()
            return False
    spool.remove()
    log.info("spool_recovered", encounter_id=encounter_id)
    return True
