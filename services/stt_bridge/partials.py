"""Partial turns published off the WebSocket receive loops, coalesced and pipelined.

Universal-Streaming sends a partial per word; an awaited XADD for each held up reading the
socket (16 % of the bridge at 100 rooms). A receive loop now only ``offer``s its partial;
one task per replica XADDs every pending partial in one pipelined round trip, at most one
per ``interval_s``. Until then, a newer partial of the same encounter replaces the pending
one (the live view only ever shows the latest); a slow Redis reply costs the UI staleness,
never the STT session. Partials are UI-only and trimmed: one that fails to publish is
dropped (logged). Finals never pass through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import redis.asyncio as aioredis

from services.stt_bridge.metrics import BridgeMetrics
from shared.contracts import PARTIALS_MAXLEN, PartialTurn, encode
from shared.logging import get_logger
from shared.streams import TRANSIENT_REDIS_ERRORS

log = get_logger(__name__)


@dataclass(eq=False)
class PartialSink:
    redis: aioredis.Redis
    metrics: BridgeMetrics
    _: KW_ONLY
    maxlen: int = PARTIALS_MAXLEN
    retry_s: float = 0.5
    # At most one round trip per interval: under load, a pipeline carries the partials
    # of many rooms (each Redis write costs a syscall and a wakeup of redis-server).
    interval_s: float = 0.0
    round_trips: int = field(init=False, default=0)
    # stream -> (turn order, latest partial of that stream)
    _pending: dict[str, tuple[int, PartialTurn]] = field(init=False, default_factory=dict)
    _wake: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def offer(self, stream: str, partial: PartialTurn, turn_order: int = 0) -> None:
        """Queue ``partial`` (of turn ``turn_order``) for ``stream``, replacing one not
        yet sent."""
        if stream in self._pending:
            self.metrics.partials_coalesced.inc()
        self._pending[stream] = (turn_order, partial)
        self._wake.set()

    def discard(self, stream: str, up_to_turn: int) -> None:
        """Drop the pending partial if its turn is ``up_to_turn`` or earlier (that turn
        became final: its partial is stale; a later turn's partial stays)."""
        pending = self._pending.get(stream)
        if pending is not None and pending[0] <= up_to_turn:
            del self._pending[stream]

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set and nothing is pending."""
        while True:
            if not self._pending:
                if stop.is_set():
                    return
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await self._wake.wait()
                continue
            batch, self._pending = self._pending, {}
            started = time.monotonic()
            try:
                await self._publish(batch)
            except TRANSIENT_REDIS_ERRORS as err:
                log.warning("partials_publish_failed", error=type(err).__name__, count=len(batch))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.retry_s):
                        await stop.wait()
                continue
            pause = self.interval_s - (time.monotonic() - started)
            if pause > 0 and not stop.is_set():
                await asyncio.sleep(pause)

    async def _publish(self, batch: dict[str, tuple[int, PartialTurn]]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, (_, partial) in batch.items():
                fields: Any = encode(partial)
                pipe.xadd(stream, fields, maxlen=self.maxlen, approximate=True)
            await pipe.execute()
        self.round_trips += 1
        self.metrics.partials.inc(len(batch))
