"""A visit the clinic server refused (room cap reached, room revoked): its audio is kept
on this machine, out of the resend queue (sending it again would only be refused again).

``<spool>/refused/<encounter>/`` gets the spool as it was and ``audio.wav``: every frame
of the visit this agent can still find, from Redis (a room may read its own audio back)
and from the spool (what never reached Redis). Owner-only, like the spool: patient audio.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.capture.spool import EncounterSpool
from shared.contracts import MalformedEntry, decode_audio
from shared.logging import get_logger
from shared.private_files import open_private, private_dir

log = get_logger(__name__)

REFUSED_DIR = "refused"
SAMPLE_RATE = 16000
_PAGE = 1000


async def _frames_in_redis(redis: aioredis.Redis, stream: str) -> dict[int, bytes]:
    frames: dict[int, bytes] = {}
    top = "+"
    try:
        while True:
            rows: Any = await redis.xrevrange(stream, max=top, min="-", count=_PAGE)
            for _entry_id, fields in rows:
                try:
                    frame = decode_audio(fields)
                except MalformedEntry:
                    continue
                frames.setdefault(frame.seq, frame.pcm)
            if len(rows) < _PAGE:
                return frames
            last = rows[-1][0]
            top = "(" + (last.decode() if isinstance(last, bytes) else str(last))
    except (RedisError, OSError) as err:  # revoked or unreachable: the spool's part only
        log.warning("refused_audio_not_read_back", error=type(err).__name__)
        return frames


async def keep_refused(
    redis: aioredis.Redis, stream: str, spool: EncounterSpool, spool_dir: Path
) -> Path:
    """Move the visit's spool to ``<spool_dir>/refused/`` with an ``audio.wav``; returns
    the folder."""
    frames = await _frames_in_redis(redis, stream)
    for rec in spool.read(1 << 30):  # a refused visit's spool is small (it stopped at once)
        if rec.is_frame:
            frames.setdefault(rec.seq, rec.payload)
    spool.close()
    target = private_dir(spool_dir / REFUSED_DIR) / spool.dir.name
    spool.dir.rename(target)
    with open_private(target / "audio.wav", "wb") as fh, wave.open(fh, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        for seq in sorted(frames):
            wav.writeframes(frames[seq])
    log.warning("refused_visit_kept", frames=len(frames), folder=str(target))
    return target
