"""Failed authentication per source address, counted in Redis (shared by every replica).

Two fixed-window counters per address: failed console sign-ins (over the limit, sign-in
answers 429 until the window ends, so tokens cannot be guessed at speed) and failed API
credentials (bearer token, session, ticket), which only bound how many audit rows one
address can cause per window; the metrics count every failure.
"""

from __future__ import annotations

from typing import Any

from shared.contracts import StreamNames

SIGNIN = "signin-fail"
API = "auth-fail"
# Audit rows per address and window for failed API credentials (then metrics only).
API_AUDIT_LIMIT = 20


def _key(names: StreamNames, kind: str, address: str | None) -> str:
    return names.key("api", kind, address or "unknown")


async def blocked_for(
    redis: Any, names: StreamNames, kind: str, address: str | None, limit: int
) -> int | None:
    """Seconds until ``address`` may try again, or None when it is under the limit."""
    key = _key(names, kind, address)
    count = await redis.get(key)
    if count is None or int(count) < limit:
        return None
    ttl = int(await redis.ttl(key))
    return max(ttl, 1)


async def count_failure(redis: Any, names: StreamNames, kind: str, address: str | None,
                        window_s: int) -> int:  # fmt: skip
    """Count one failure in the address's current window; returns the count so far."""
    key = _key(names, kind, address)
    # SET NX EX then INCR (EXPIRE … NX needs Redis 7; the demo's fallback is 6.2).
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=max(window_s, 1), nx=True)
        pipe.incr(key)
        _, count = await pipe.execute()
    return int(count)
