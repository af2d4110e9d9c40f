"""Dead-letter stream inspection and replay (`medscribe dlq`). Never shows entry contents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis


@dataclass(frozen=True)
class DeadEntry:
    dead_id: str
    stream: str
    group: str
    entry_id: str
    reason: str
    deliveries: int
    size_bytes: int


def _s(fields: dict[bytes, bytes], key: bytes) -> str:
    return fields.get(key, b"").decode(errors="replace")


async def list_dead(redis: aioredis.Redis, dead_stream: str, limit: int = 50) -> list[DeadEntry]:
    rows: Any = await redis.xrevrange(dead_stream, count=limit)
    out = []
    for dead_id, fields in rows:
        size = sum(len(v) for k, v in fields.items() if k.startswith(b"f:"))
        out.append(
            DeadEntry(
                dead_id=dead_id.decode(),
                stream=_s(fields, b"dead:stream"),
                group=_s(fields, b"dead:group"),
                entry_id=_s(fields, b"dead:entry_id"),
                reason=_s(fields, b"dead:reason"),
                deliveries=int(_s(fields, b"dead:deliveries") or 0),
                size_bytes=size,
            )
        )
    return out


async def replay(redis: aioredis.Redis, dead_stream: str, dead_id: str) -> str:
    """Put a dead entry's original fields back on its stream; remove it from the DLQ."""
    rows: Any = await redis.xrange(dead_stream, min=dead_id, max=dead_id)
    if not rows:
        raise KeyError(dead_id)
    _id, fields = rows[0]
    stream = _s(fields, b"dead:stream")
    original = {k[2:]: v for k, v in fields.items() if k.startswith(b"f:")}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(stream, original)
        pipe.xdel(dead_stream, dead_id)
        new_id, _ = await pipe.execute()
    return str(new_id.decode())
