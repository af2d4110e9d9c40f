"""Stream housekeeping in the notes service: trim the shared streams safely, and measure
Redis memory, stream lengths, consumer lag and the dead-letter stream for /metrics.

Several notes replicas may all run it: a trim only removes what every group has
acknowledged, so doing it twice is harmless.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.notes.background import RedisJob
from services.notes.config import NotesSettings
from services.notes.metrics import NotesMetrics
from shared.logging import get_logger
from shared.trim import StreamReport, now_ms, trim_shared_streams
from shared.waiting import sleep_or_stop

log = get_logger(__name__)

# Readiness warns from this share of maxmemory on (Redis refuses writes at 100%).
MEMORY_WARN_SHARE = 0.8
ALERT_REPEAT_S = 3600.0


class Housekeeping(RedisJob):
    def __init__(
        self, settings: NotesSettings, redis: aioredis.Redis, metrics: NotesMetrics
    ) -> None:
        super().__init__(settings, redis, metrics)
        self._last_alert: dict[str, float] = {}

    async def once(self) -> list[StreamReport]:
        reports = await trim_shared_streams(
            self.redis, self.names, keep_tail=self.settings.stream_keep_tail
        )
        warnings: list[str] = []
        now = now_ms()
        for rep in reports:
            self.metrics.stream_length.labels(stream=rep.name).set(rep.length)
            if rep.trimmed:
                self.metrics.stream_trimmed.labels(stream=rep.name).inc(rep.trimmed)
            for lag in rep.groups:
                self.metrics.oldest_unacked.labels(stream=rep.name, group=lag.group).set(
                    lag.oldest_age_s(now)
                )
            if rep.skipped and rep.skipped.startswith("group_missing"):
                self._alert("stream_not_trimmed", stream=rep.name, reason=rep.skipped)
        dead = next(r for r in reports if r.name == "dead")
        over = dead.length >= self.settings.dead_letter_alert
        self.metrics.dead_letter_alert.set(1 if over else 0)
        if over:
            warnings.append("dead_letters_at_alert_level")
            self._alert("dead_letters_at_alert_level", count=dead.length)
        warnings += await self._memory()
        self.metrics.warnings = warnings
        return reports

    async def _memory(self) -> list[str]:
        info: Any = await self.redis.info("memory")
        used = int(info.get("used_memory", 0))
        limit = int(info.get("maxmemory", 0))
        self.metrics.redis_used_memory.set(used)
        self.metrics.redis_maxmemory.set(limit)
        if limit and used >= MEMORY_WARN_SHARE * limit:
            self._alert("redis_memory_near_budget", bytes=used, limit=limit)
            return ["redis_memory_near_budget"]
        return []

    def _alert(self, event: str, **fields: Any) -> None:
        """Log a warning once, then again at most hourly while it lasts."""
        now = time.monotonic()
        if now - self._last_alert.get(event, -ALERT_REPEAT_S) >= ALERT_REPEAT_S:
            self._last_alert[event] = now
            log.warning(event, **fields)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.once()
            except (RedisError, OSError) as err:
                log.warning("stream_housekeeping_deferred", error=type(err).__name__)
            await sleep_or_stop(stop, self.settings.stream_trim_every_s)
