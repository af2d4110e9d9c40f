"""Encounter leases in Redis: ``SET NX PX`` to take, a compare-and-renew script to keep, a
compare-and-delete to hand back. The lease value is the owner's token, and every write an
owner makes to an encounter is fenced by it (see ``state.py``), so a replica that lost its
lease (paused, partitioned) can never publish into an encounter another replica resumed.
"""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from shared.contracts import StreamNames

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Leases:
    def __init__(self, redis: aioredis.Redis, names: StreamNames, owner: str, lease_ms: int):
        self.redis = redis
        self.names = names
        self.lease_ms = lease_ms
        # Unique per process start: a restarted replica with the same name is a new owner.
        self.token = f"{owner}:{uuid.uuid4().hex[:12]}"

    def key(self, encounter_id: str) -> str:
        return self.names.bridge_lease(encounter_id)

    async def acquire(self, encounter_id: str) -> bool:
        """Take the lease if free (or already ours, e.g. after a Redis outage)."""
        ok = await self.redis.eval(_ACQUIRE, 1, self.key(encounter_id), self.token, self.lease_ms)
        return bool(ok)

    async def renew_many(self, encounter_ids: list[str]) -> dict[str, bool]:
        """Renew several leases in one round trip; False where this owner lost one."""
        if not encounter_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for eid in encounter_ids:
                pipe.eval(_RENEW, 1, self.key(eid), self.token, self.lease_ms)
            results = await pipe.execute()
        return {eid: bool(r) for eid, r in zip(encounter_ids, results, strict=True)}

    async def release(self, encounter_id: str) -> bool:
        return bool(await self.redis.eval(_RELEASE, 1, self.key(encounter_id), self.token))

    async def owner(self, encounter_id: str) -> str | None:
        raw = await self.redis.get(self.key(encounter_id))
        return raw.decode() if isinstance(raw, bytes) else raw
