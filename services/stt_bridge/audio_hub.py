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
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.logging import get_logger
from shared.streams import TRANSIENT_REDIS_ERRORS

log = get_logger(__name__)

RawEntry = tuple[Any, dict[bytes, bytes]]


class Subscription:
    """One encounter's view of the hub: entries after ``after``, in stream order."""

    __slots__ = ("after", "entries", "error", "gen", "ready", "stream")

    def __init__(self, stream: str, after: str) -> None:
        self.stream = stream
        self.after = after  # stream id the next read starts after
        self.gen = 0
        self.entries: deque[RawEntry] = deque()
        self.error: type[RedisError] | None = None
        self.ready = asyncio.Event()


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

    async def wait(self, sub: Subscription, timeout_s: float) -> None:
        """Until ``sub`` has entries or an error, at most ``timeout_s``."""
        if sub.entries or sub.error is not None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await sub.ready.wait()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            wanted: dict[Any, Any] = {
                s.stream: s.after for s in self._subs.values() if len(s.entries) < self.max_buffered
            }
            if not wanted:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.block_ms / 1000):
                        await self._changed.wait()
                continue
            gens = {stream: self._subs[stream].gen for stream in wanted}
            started = time.monotonic()
            try:
                reply: Any = await self.redis.xread(wanted, count=self.count, block=self.block_ms)
            except TRANSIENT_REDIS_ERRORS as err:
                self._fail(RedisTimeoutError if isinstance(err, RedisTimeoutError)
                           else RedisConnectionError, err)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.retry_s):
                        await stop.wait()
                continue
            self.reads += 1
            got = self._deliver(reply, gens)
            pause = self.interval_s - (time.monotonic() - started)
            if got and pause > 0:
                await asyncio.sleep(pause)

    def _deliver(self, reply: Any, gens: dict[str, int]) -> bool:
        got = False
        for stream_b, entries in reply or []:
            stream = stream_b.decode() if isinstance(stream_b, bytes) else stream_b
            sub = self._subs.get(stream)
            if sub is None or sub.gen != gens.get(stream) or not entries:
                continue  # gone, or re-positioned while this read was in flight
            sub.entries.extend(entries)
            last = entries[-1][0]
            sub.after = last.decode() if isinstance(last, bytes) else last
            sub.ready.set()
            got = True
        return got

    def _fail(self, kind: type[RedisError], err: BaseException) -> None:
        log.warning("audio_read_failed", error=type(err).__name__, count=len(self._subs))
        for sub in self._subs.values():
            sub.error = kind
            sub.ready.set()
