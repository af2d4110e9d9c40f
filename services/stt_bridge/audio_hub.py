"""One reader for the audio of every encounter this replica holds: a single multi-stream
XREAD over all their ``ms:audio:{id}`` streams, fanned out to per-encounter buffers.

A blocking XREAD per encounter per frame was a third of the bridge's time at 100 rooms
(about 2,000 round trips a second). Here one task reads every stream from the position its
encounter asked for and hands the raw entries over in stream order; each encounter's
:class:`~services.stt_bridge.audio.AudioReader` keeps its own checkpoint, dedup and seek
logic, exactly as with its own XREAD. A seek re-positions the subscription and bumps its
generation: entries of a read issued before the seek are dropped, so none is doubled or
skipped. A Redis failure is handed to every reader (its session ends as before and is
resumed from the stored position); the hub retries on its own.

The hub's loop is the one timer of every waiting reader (issue 22): a reader waits on its
subscription's event alone, woken when its entries reach what it asked for (a chunk's
worth of frames, not each frame) or by the hub when its wait is over; the hub's XREAD
blocks no longer than the earliest such end. Replies are read without redis-py's
conversion of each entry to a dict (``_raw_client``): an entry's fields stay the flat
``[name, value, ...]`` list Redis sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.logging import get_logger
from shared.streams import TRANSIENT_REDIS_ERRORS, is_unblocked

log = get_logger(__name__)

UNBLOCKED_RETRY_S = 0.05  # after a failover ended a blocked read: read again at once

# (entry id, fields): a dict from redis-py's xread, the flat [name, value, ...] list of the
# raw reply the hub reads.
RawEntry = tuple[Any, Any]


def _raw_client(redis: aioredis.Redis) -> aioredis.Redis | None:
    """A client on ``redis``'s own connection pool whose XREAD returns Redis's reply as it
    is (no dict per entry), or None where that is not possible (a cluster client)."""
    pool = getattr(redis, "connection_pool", None)
    if not isinstance(redis, aioredis.Redis) or pool is None:
        return None
    client = type(redis)(connection_pool=pool)
    client.set_response_callback("XREAD", _as_is)
    return client


def _as_is(response: Any, **_options: Any) -> Any:
    return response


class Subscription:
    """One encounter's view of the hub: entries after ``after``, in stream order."""

    __slots__ = ("after", "deadline", "entries", "error", "gen", "ready", "stream", "want")

    def __init__(self, stream: str, after: str) -> None:
        self.stream = stream
        self.after = after  # stream id the next read starts after
        self.gen = 0
        self.entries: deque[RawEntry] = deque()
        self.error: type[RedisError] | None = None
        self.ready = asyncio.Event()
        self.want = 1  # entries that wake the waiting reader
        self.deadline: float | None = None  # when its wait ends without them (monotonic)


class AudioHub:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        block_ms: int = 100,
        interval_s: float = 0.02,
        count: int = 100,
        max_buffered: int = 400,
        retry_s: float = 0.5,
    ) -> None:
        self.redis = redis
        self.block_ms = max(1, block_ms)
        # Reads at most this often while frames flow: one XREAD then carries a frame of
        # most encounters instead of one; the added delay is at most this interval.
        self.interval_s = interval_s
        self.count = count
        self.max_buffered = max_buffered  # per encounter; a paced session drains slowly
        self.retry_s = retry_s
        self.reads = 0  # XREAD calls, for tests and the benchmark
        self._raw = _raw_client(redis)
        self._running = False  # waits end by the hub's loop only while it runs
        self._waiting: set[Subscription] = set()
        self._subs: dict[str, Subscription] = {}
        self._changed = asyncio.Event()
        # Generations unique across the hub's life, not per subscription: after an
        # unsubscribe (the visit's lease was lost) and a new subscribe (it was taken again
        # at its stored position), a read still in flight at the old position must not
        # match the new subscription (a per-stream count restarting at 0 did: the retaken
        # visit got the frames after the old position and skipped those before it).
        self._gens = itertools.count(1)

    def subscribe(self, stream: str, after: str) -> Subscription:
        """Read ``stream`` after ``after`` from now on (a new encounter, or a seek).

        A new subscription replaces any earlier one of the stream: a read in flight was
        issued at the old position and its entries go nowhere, and the old holder's
        ``unsubscribe`` cannot remove the new one."""
        old = self._subs.get(stream)
        sub = Subscription(stream, after)
        if old is not None:
            old.gen = next(self._gens)
        sub.gen = next(self._gens)
        self._subs[stream] = sub
        self._changed.set()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if self._subs.get(sub.stream) is sub:
            del self._subs[sub.stream]
        sub.gen = next(self._gens)

    def take(self, sub: Subscription) -> list[RawEntry]:
        """Everything buffered for ``sub`` (empty if nothing); raises a Redis failure once."""
        if sub.error is not None:
            err, sub.error = sub.error, None
            raise err("audio stream read failed")
        out = list(sub.entries)
        full = len(sub.entries) >= self.max_buffered
        sub.entries.clear()
        sub.ready.clear()
        if full:
            self._changed.set()  # it was left out of the read: include it again
        return out

    async def wait(self, sub: Subscription, timeout_s: float, want: int = 1) -> None:
        """Until ``sub`` has ``want`` entries (any, once the wait is over) or an error, at
        most ``timeout_s`` (later by at most the hub's own round trip)."""
        if len(sub.entries) >= want or sub.error is not None:
            return
        if not self._running:  # nobody ends the wait but its own timer
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await sub.ready.wait()
            return
        sub.ready.clear()  # set by a delivery of fewer entries than wanted now
        sub.want = want
        sub.deadline = time.monotonic() + timeout_s
        self._waiting.add(sub)
        try:
            await sub.ready.wait()
        finally:
            self._waiting.discard(sub)
            sub.want, sub.deadline = 1, None

    def _expire(self, now: float) -> float:
        """Wake the readers whose wait is over; seconds until the next one's end (at most
        the XREAD block)."""
        until = self.block_ms / 1000
        for sub in self._waiting:
            deadline = sub.deadline
            if deadline is None:
                continue
            if deadline <= now:
                sub.deadline = None
                sub.ready.set()
            elif deadline - now < until:
                until = deadline - now
        return until

    async def run(self, stop: asyncio.Event) -> None:
        self._running = True
        try:
            await self._run(stop)
        finally:
            self._running = False
            for sub in self._waiting:  # nobody ends these waits now
                sub.ready.set()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            until = self._expire(time.monotonic())
            wanted: dict[Any, Any] = {
                s.stream: s.after for s in self._subs.values() if len(s.entries) < self.max_buffered
            }
            if not wanted:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(until):
                        await self._changed.wait()
                continue
            gens = {stream: self._subs[stream].gen for stream in wanted}
            started = time.monotonic()
            # Not shorter than a fifth of the block: with no audio flowing, readers' waits
            # ending at many different times must not turn into as many round trips.
            block = max(self.block_ms // 5, 1, min(self.block_ms, math.ceil(until * 1000)))
            try:
                reply: Any = await self._xread(wanted, block)
            except TRANSIENT_REDIS_ERRORS as err:
                self._fail(RedisTimeoutError if isinstance(err, RedisTimeoutError)
                           else RedisConnectionError, err)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.retry_s):
                        await stop.wait()
                continue
            except ResponseError as err:
                # A cluster failover turned the node replica under the blocked read
                # ("UNBLOCKED ..."): nothing was read, the positions stand; read again (the
                # client follows the slot to its new primary). Before, the whole bridge died.
                if not is_unblocked(err):
                    raise
                log.warning("audio_read_unblocked")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(UNBLOCKED_RETRY_S):
                        await stop.wait()
                continue
            self.reads += 1
            got = self._deliver(reply, gens)
            pause = self.interval_s - (time.monotonic() - started)
            if got and pause > 0:
                await asyncio.sleep(min(pause, self._expire(time.monotonic())))

    async def _xread(self, wanted: dict[Any, Any], block: int) -> Any:
        if self._raw is None:
            return await self.redis.xread(wanted, count=self.count, block=block)
        return await self._raw.execute_command(
            "XREAD", "COUNT", self.count, "BLOCK", block, "STREAMS", *wanted, *wanted.values()
        )

    def _deliver(self, reply: Any, gens: dict[str, int]) -> bool:
        """Hand a reply's entries to their subscriptions: ``[[stream, entries], ...]``
        (RESP2, redis-py's xread) or ``{stream: entries}`` (RESP3, the raw reply)."""
        got = False
        for stream_b, entries in reply.items() if isinstance(reply, dict) else reply or []:
            stream = stream_b.decode() if isinstance(stream_b, bytes) else stream_b
            sub = self._subs.get(stream)
            if sub is None or sub.gen != gens.get(stream) or not entries:
                continue  # gone, or re-positioned while this read was in flight
            sub.entries.extend(entries)
            last = entries[-1][0]
            sub.after = last.decode() if isinstance(last, bytes) else last
            if len(sub.entries) >= sub.want:
                sub.ready.set()
            got = True
        return got

    def _fail(self, kind: type[RedisError], err: BaseException) -> None:
        log.warning("audio_read_failed", error=type(err).__name__, count=len(self._subs))
        for sub in self._subs.values():
            sub.error = kind
            sub.ready.set()
