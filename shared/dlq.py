"""Dead-letter stream inspection and replay (`medscribe dlq`). Never shows entry contents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError, ResponseError

from shared.redis_acl import is_permission_error


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


# KEYS[1] = dead-letter stream, KEYS[2] = the entry's own stream; ARGV[1] = dead id.
# One script, so replay is all or nothing: the permissions for both writes are checked
# before either is made, and an entry already replayed (gone from the DLQ) is not re-added.
_REPLAY = """
local rows = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #rows == 0 then return false end
local fields = rows[1][2]
local original, stream = {}, nil
for i = 1, #fields, 2 do
  local k = fields[i]
  if k == 'dead:stream' then stream = fields[i + 1] end
  if string.sub(k, 1, 2) == 'f:' then
    original[#original + 1] = string.sub(k, 3)
    original[#original + 1] = fields[i + 1]
  end
end
if stream ~= KEYS[2] then return redis.error_reply('ERR dead entry changed its stream') end
if #original == 0 then return redis.error_reply('ERR dead entry has no fields') end
if redis.acl_check_cmd then  -- Redis >= 7.0
  if not redis.acl_check_cmd('XADD', KEYS[2], '*', original[1], original[2]) then
    return redis.error_reply('NOPERM this user may not XADD to the stream of the entry')
  end
  if not redis.acl_check_cmd('XDEL', KEYS[1], ARGV[1]) then
    return redis.error_reply('NOPERM this user may not XDEL from the dead-letter stream')
  end
end
local id = redis.call('XADD', KEYS[2], '*', unpack(original))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
"""


async def replay(redis: aioredis.Redis, dead_stream: str, dead_id: str) -> str:
    """Put a dead entry's original fields back on its stream and remove it from the DLQ,
    atomically: on any refusal or failure neither happens, so a retry never doubles it."""
    rows: Any = await redis.xrange(dead_stream, min=dead_id, max=dead_id)
    if not rows:
        raise KeyError(dead_id)
    _id, fields = rows[0]
    stream = _s(fields, b"dead:stream")
    try:
        new_id: Any = await redis.eval(_REPLAY, 2, dead_stream, stream, dead_id)
    except ResponseError as err:
        if is_permission_error(err):  # say what the replay needs, not "EVAL"
            raise NoPermissionError(
                "XADD: this user has no permissions to access one of the keys used as"
                " arguments (replay needs XADD on the entry's stream, XDEL on the DLQ)"
            ) from None
        raise
    if new_id is None:  # replayed by someone else since we looked
        raise KeyError(dead_id)
    return new_id.decode() if isinstance(new_id, bytes) else str(new_id)
