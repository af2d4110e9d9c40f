"""Stream housekeeping as /metrics and /readyz show it: stream lengths, the age of each
group's oldest unacknowledged entry, the dead-letter alert and the memory budget."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from services.notes.db.engine import Database
from services.notes.housekeeping import Housekeeping
from services.notes.metrics import NotesMetrics
from shared.contracts import StreamNames
from shared.streams import make_redis
from tests.helpers.procs import RedisServer
from tests.kit.notes import notes_settings


def sample(metrics: NotesMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_lag_lengths_and_dead_letter_alert(
    db: Database, redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    settings = notes_settings(db, names, tmp_path, stream_keep_tail=2, dead_letter_alert=3)
    old_ms = 1_000_000_000_000  # 2001: an entry that has waited a long time
    await redis.xadd(names.edited, {"i": "0"}, id=f"{old_ms}-0")
    for i in range(1, 6):
        await redis.xadd(names.edited, {"i": str(i)})
    await redis.xgroup_create(names.edited, "notes", id="0")
    for i in range(3):
        await redis.xadd(names.dead, {"n": str(i)})

    metrics = NotesMetrics()
    hk = Housekeeping(settings, redis, metrics)
    await hk.once()
    assert sample(metrics, "medscribe_redis_stream_length", stream="turns:edited") == 6
    age = sample(metrics, "medscribe_redis_oldest_unacked_seconds", stream="turns:edited",
                 group="notes")  # fmt: skip
    assert age is not None
    assert age > 20 * 365 * 86400
    assert sample(metrics, "medscribe_redis_dead_letter_alert") == 1
    assert metrics.warnings == ["dead_letters_at_alert_level"]
    assert await redis.xlen(names.dead) == 3  # never trimmed

    # The group reads and acks everything: lag 0, the stream trimmed to its tail.
    got = await redis.xreadgroup("notes", "c", {names.edited: ">"})
    await redis.xack(names.edited, "notes", *[eid for eid, _ in got[0][1]])
    await redis.xtrim(names.dead, maxlen=0)  # an admin dropped the dead letters
    await hk.once()
    assert sample(metrics, "medscribe_redis_oldest_unacked_seconds", stream="turns:edited",
                  group="notes") == 0  # fmt: skip
    assert sample(metrics, "medscribe_redis_stream_length", stream="turns:edited") == 2
    assert sample(metrics, "medscribe_redis_stream_trimmed_total", stream="turns:edited") == 4
    assert sample(metrics, "medscribe_redis_dead_letter_alert") == 0
    assert metrics.warnings == []


async def test_memory_near_budget_warns(
    db: Database, private_redis: RedisServer, names: StreamNames, tmp_path: Path
) -> None:
    redis = make_redis(private_redis.url)
    try:
        metrics = NotesMetrics()
        hk = Housekeeping(notes_settings(db, names, tmp_path), redis, metrics)
        await hk.once()
        assert metrics.warnings == []
        used = sample(metrics, "medscribe_redis_used_memory_bytes")
        assert used is not None
        assert used > 0
        await redis.config_set("maxmemory", str(int(used / 0.9)))
        await hk.once()
        assert metrics.warnings == ["redis_memory_near_budget"]
        assert sample(metrics, "medscribe_redis_maxmemory_bytes") == int(used / 0.9)
    finally:
        await redis.config_set("maxmemory", "0")
        await redis.aclose()
