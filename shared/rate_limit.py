"""One requests-per-window limiter per model, in Redis, shared by every worker and replica.

A sliding-window log (sorted set of admission times, Redis server clock) checked and
updated by one Lua script, so concurrent workers can never admit more than ``limit``
requests in any window. The window is the gateway's plus a margin, so that transit time
between our admission and the gateway's count cannot push a request over its quota.

Spreading (``burst``): a window's whole quota spent in one burst leaves every turn that
comes next waiting until the burst leaves the window (up to a minute). Past ``burst``
requests in the window, requests are spaced ``window / limit`` apart (the full rate, evenly),
so the quota lasts the whole window and turns that queue meanwhile travel together in the
next request (merging). The sliding-window count still bounds every window (right after a
burst it may hold the pace back once, for about ``burst`` spacings).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared.gateway_types import GatewayUnavailable
from shared.waiting import sleep_or_stop

# KEYS[1] = zset; ARGV = limit, window_ms, member, burst. Returns 0 (admitted) or ms to wait.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local burst = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now + 1)
end
if burst > 0 and burst < limit and count >= burst then
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local due = tonumber(newest[2]) + math.floor(window / limit)
  if due > now then
    return due - now
  end
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window + 1000)
return 0
"""


class RateLimiter:
    """``try_acquire(model)`` -> 0.0 when a request may go now, else seconds to wait."""

    def __init__(
        self,
        redis: aioredis.Redis,
        key_prefix: str,
        *,
        limit: int | None,
        window_s: float = 60.0,
        margin_s: float = 0.5,
        burst: int = 0,
    ) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.limit = limit if limit else None
        self.window_ms = int((window_s + margin_s) * 1000)
        self.burst = burst  # 0 or >= limit: no spreading
        self._script = redis.register_script(_SCRIPT)

    async def try_acquire(self, model: str) -> float:
        if self.limit is None:
            return 0.0
        wait_ms = await self._script(
            keys=[f"{self.key_prefix}{model}"],
            args=[self.limit, self.window_ms, uuid.uuid4().hex, self.burst],
        )
        return int(wait_ms) / 1000.0


async def wait_for_slot(
    limiter: RateLimiter, model: str, stop: asyncio.Event, *, give_up_s: float
) -> bool:
    """Wait until ``limiter`` admits a request of ``model``: True when admitted, False when
    ``stop`` is set or ``give_up_s`` passed first (the caller defers its work). A limiter
    Redis cannot answer admits: the gateway's own 429 and the client's retries still hold."""
    deadline = time.monotonic() + give_up_s
    while True:
        try:
            wait = await limiter.try_acquire(model)
        except (RedisError, OSError):
            return True
        if wait <= 0:
            return True
        left = deadline - time.monotonic()
        if left <= 0 or await sleep_or_stop(stop, min(wait, left, 1.0)):
            return False


class QuotaGate:
    """``GatewayClient(admit=...)`` for a service without a queue of its own (the notes'
    SOAP calls): each request waits for its model's quota in the shared limiter, at most
    ``give_up_s``; past that the request fails as the gateway's 429s would have (the caller
    defers it with backoff)."""

    def __init__(self, limiter: RateLimiter, stop: asyncio.Event, *, give_up_s: float) -> None:
        self.limiter = limiter
        self.stop = stop
        self.give_up_s = give_up_s

    async def __call__(self, model: str) -> None:
        if not await wait_for_slot(self.limiter, model, self.stop, give_up_s=self.give_up_s):
            raise GatewayUnavailable("quota_wait", status=429, attempts=0)
