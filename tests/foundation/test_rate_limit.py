"""The shared Redis rate limiter: concurrent callers never exceed the limit per window."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from shared.contracts import StreamNames
from shared.rate_limit import RateLimiter
from shared.streams import make_redis


async def test_concurrent_limiters_share_one_quota(redis_url: str, names: StreamNames) -> None:
    clients = [make_redis(redis_url) for _ in range(3)]
    try:
        limiters = [
            RateLimiter(c, names.key("rate", ""), limit=5, window_s=0.4, margin_s=0.1)
            for c in clients
        ]
        waits = await asyncio.gather(*(lim.try_acquire("m") for lim in limiters for _ in range(6)))
        assert sum(1 for w in waits if w == 0) == 5
        assert all(0 < w <= 0.51 for w in waits if w)
        # Another model has its own quota.
        assert await limiters[0].try_acquire("other") == 0
        await asyncio.sleep(max(waits) + 0.05)
        assert await limiters[1].try_acquire("m") == 0  # the window moved on
    finally:
        for c in clients:
            await c.aclose()


async def test_unlimited_never_touches_redis(redis: aioredis.Redis, names: StreamNames) -> None:
    limiter = RateLimiter(redis, names.key("rate", ""), limit=None)
    assert [await limiter.try_acquire("m") for _ in range(100)] == [0.0] * 100
    assert await redis.exists(names.key("rate", "m")) == 0


async def test_past_the_burst_the_quota_is_spread_over_the_window(
    redis: aioredis.Redis, names: StreamNames
) -> None:
    key = names.key("rate", "")
    limiter = RateLimiter(redis, key, limit=10, window_s=1.0, margin_s=0.0, burst=2)
    assert [await limiter.try_acquire("m") for _ in range(2)] == [0.0, 0.0]  # the burst
    wait = await limiter.try_acquire("m")
    assert 0 < wait <= 0.1  # window / limit after the newest admission
    for _ in range(40):  # keep asking for 0.9 s, as a busy model loop would
        wait = await limiter.try_acquire("m")
        await asyncio.sleep(wait or 0.005)
    admitted = sorted(float(s) for _, s in await redis.zrange(key + "m", 0, -1, withscores=True))
    gaps = [b - a for a, b in zip(admitted[1:], admitted[2:], strict=False)]
    assert len(admitted) <= 10  # the window's limit still holds
    assert gaps
    assert min(gaps) >= 100  # ms, on the Redis server's clock: spaced, not one burst
