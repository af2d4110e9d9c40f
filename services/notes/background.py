"""What the notes service's background jobs on Redis (housekeeping, the room gate, the
Redis releaser) are built from."""

from __future__ import annotations

import redis.asyncio as aioredis

from services.notes.config import NotesSettings
from services.notes.metrics import NotesMetrics
from shared.contracts import StreamNames


class RedisJob:
    """A background job: its settings, Redis client, metrics and the stream names of the
    configured prefix."""

    def __init__(
        self, settings: NotesSettings, redis: aioredis.Redis, metrics: NotesMetrics
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.metrics = metrics
        self.names = StreamNames(settings.stream_prefix)
