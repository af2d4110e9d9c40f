"""Which visits have turns waiting for LLM quota, so the live view can say so.

While the limiter refuses a model, the editor marks each visit with turns queued for that
model: ``editor_quota_wait(encounter_id)`` = a ``QuotaWait`` (turns, since when). The
mark expires ``MARK_TTL_MS`` after its last refresh (one per refused attempt, about once a
second), so it disappears within seconds once the turns are sent, or if the editor dies.
Counts and times only, never text.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from shared.contracts import QuotaWait, StreamNames
from shared.logging import get_logger

log = get_logger(__name__)

MARK_TTL_MS = 3000


def wait_marks(
    queued: Iterable[tuple[str, float]], now_wall: float, now_mono: float
) -> dict[str, QuotaWait]:
    """``(encounter_id, enqueued monotonic time)`` of queued turns -> each visit's mark."""
    turns: dict[str, int] = {}
    since: dict[str, int] = {}
    for eid, enqueued in queued:
        since_ms = int((now_wall - (now_mono - enqueued)) * 1000)
        turns[eid] = turns.get(eid, 0) + 1
        since[eid] = min(since.get(eid, since_ms), since_ms)
    return {eid: QuotaWait(turns=n, since_ms=since[eid]) for eid, n in turns.items()}


class QuotaWaitBoard:
    """Writes the marks; a failed write costs only the notice, never a turn."""

    def __init__(self, redis: Any, names: StreamNames) -> None:
        self.redis = redis
        self.names = names

    async def mark(self, queued: Iterable[tuple[str, float]]) -> None:
        marks = wait_marks(queued, time.time(), time.monotonic())
        if not marks:
            return
        pipe = self.redis.pipeline(transaction=False)
        for eid, mark in marks.items():
            pipe.set(self.names.editor_quota_wait(eid), mark.model_dump_json(), px=MARK_TTL_MS)
        try:
            await pipe.execute()
        except (RedisError, OSError) as err:
            log.warning("quota_wait_mark_failed", error=type(err).__name__)
