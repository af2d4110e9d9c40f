"""Keeping the shared streams short without losing an entry a consumer still needs.

For each stream, every consumer group's oldest unacknowledged entry is found: its oldest
pending entry (XPENDING summary) or else the first entry after its last-delivered id.
``XTRIM MINID`` then removes only entries older than the oldest of those over all
groups, and older than the newest ``keep_tail`` entries (kept for debugging); before
Redis 6.2.7, whose MINID could remove too much, those entries are XDELed by id. A stream is
never trimmed while a group that must read it does not exist yet (a service that has not
started once): no group means nobody has said what it still needs. Redis >= 6.2.

Groups only move forward (ids are delivered, acked or claimed in order), so a floor
computed a moment ago is still safe when XTRIM runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from shared.contracts import StreamNames

# The consumer groups each shared stream must have before it may be trimmed
# (stt_bridge: "bridge"; editor: "editor" by default; notes: "notes").
REQUIRED_GROUPS: Mapping[str, tuple[str, ...]] = {
    "control": ("bridge", "editor", "notes"),
    "turns": ("editor",),
    "turns:edited": ("notes",),
}

EntryId = tuple[int, int]


def parse_id(raw: bytes | str) -> EntryId:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(eid: EntryId) -> str:
    return f"{eid[0]}-{eid[1]}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class GroupLag:
    group: str
    pending: int
    oldest_unacked: EntryId | None  # None: the group has everything acknowledged

    def oldest_age_s(self, now_ms: int) -> float:
        """Age of the oldest entry this group has not acknowledged (0 when none)."""
        if self.oldest_unacked is None:
            return 0.0
        return max(0.0, (now_ms - self.oldest_unacked[0]) / 1000)


@dataclass
class StreamReport:
    name: str  # logical name: control, turns, turns:edited, dead
    length: int = 0
    trimmed: int = 0
    groups: list[GroupLag] = field(default_factory=list)
    skipped: str | None = None  # why it was not trimmed


async def group_lags(redis: aioredis.Redis, stream: str) -> list[GroupLag]:
    """Every group of ``stream`` with its oldest unacknowledged entry."""
    try:
        infos: Any = await redis.xinfo_groups(stream)
    except ResponseError as err:
        if "no such key" in str(err).lower():
            return []
        raise
    lags = []
    for info in infos:
        name = _text(info["name"])
        pending = int(info["pending"])
        oldest: EntryId | None = None
        if pending:
            summary: Any = await redis.xpending(stream, name)
            if summary.get("min") is not None:
                oldest = parse_id(summary["min"])
        if oldest is None:
            last = _text(info["last-delivered-id"])
            after: Any = await redis.xrange(stream, min=f"({last}", max="+", count=1)
            if after:
                oldest = parse_id(after[0][0])
        lags.append(GroupLag(name, pending, oldest))
    return lags


async def _tail_floor(redis: aioredis.Redis, stream: str, keep_tail: int) -> EntryId | None:
    """The oldest id among the newest ``keep_tail`` entries (None: keep everything)."""
    if keep_tail <= 0:
        top: Any = await redis.xrevrange(stream, count=1)
        return (parse_id(top[0][0])[0], parse_id(top[0][0])[1] + 1) if top else None
    rows: Any = await redis.xrevrange(stream, count=keep_tail)
    if len(rows) < keep_tail:
        return None
    return parse_id(rows[-1][0])


async def trim_stream(
    redis: aioredis.Redis,
    stream: str,
    name: str,
    *,
    keep_tail: int,
    required_groups: Iterable[str] = (),
    minid_ok: bool | None = None,
) -> StreamReport:
    """Trim ``stream`` to what some group still needs plus the tail; report its state."""
    report = StreamReport(name)
    report.groups = await group_lags(redis, stream)
    report.length = int(await redis.xlen(stream))
    present = {g.group for g in report.groups}
    if not present:
        report.skipped = "no_groups"
        return report
    if missing := [g for g in required_groups if g not in present]:
        report.skipped = "group_missing:" + ",".join(missing)
        return report
    floor = await _tail_floor(redis, stream, keep_tail)
    if floor is None:
        return report
    for lag in report.groups:
        if lag.oldest_unacked is not None:
            floor = min(floor, lag.oldest_unacked)
    if minid_ok is None:
        minid_ok = await minid_is_safe(redis)
    if minid_ok:
        report.trimmed = int(await redis.xtrim(stream, minid=format_id(floor), approximate=False))
    else:
        report.trimmed = await _delete_below(redis, stream, floor)
    report.length -= report.trimmed
    return report


# Before Redis 6.2.7, XTRIM MINID could delete entries above the threshold when entries of
# one stream node lie far apart (redis#9410, fixed by redis#10068; seen here on 6.2.5: an
# entry from 2001 followed by today's entries, all gone). Older servers get XDEL instead.
MINID_FIXED_IN = (6, 2, 7)


async def minid_is_safe(redis: aioredis.Redis) -> bool:
    info: Any = await redis.info("server")
    version = tuple(int(p) for p in str(info.get("redis_version", "0")).split(".")[:3])
    return version >= MINID_FIXED_IN


async def _delete_below(redis: aioredis.Redis, stream: str, floor: EntryId) -> int:
    """XDEL every entry older than ``floor``, oldest first, in pages (ids are exact, so
    entries added meanwhile are never touched)."""
    deleted = 0
    while True:
        rows: Any = await redis.xrange(stream, min="-", max=f"({format_id(floor)}", count=500)
        if not rows:
            return deleted
        deleted += int(await redis.xdel(stream, *[entry_id for entry_id, _ in rows]))


async def trim_shared_streams(
    redis: aioredis.Redis,
    names: StreamNames,
    *,
    keep_tail: int,
    required: Mapping[str, tuple[str, ...]] = REQUIRED_GROUPS,
) -> list[StreamReport]:
    """Trim control, turns and turns:edited; measure the dead-letter stream (never trimmed:
    each entry is data an admin has not yet replayed or dropped)."""
    streams = {"control": names.control, "turns": names.turns, "turns:edited": names.edited}
    minid_ok = await minid_is_safe(redis)
    reports = [
        await trim_stream(
            redis,
            key,
            name,
            keep_tail=keep_tail,
            required_groups=required[name],
            minid_ok=minid_ok,
        )  # fmt: skip
        for name, key in streams.items()
    ]
    reports.append(StreamReport("dead", length=int(await redis.xlen(names.dead))))
    return reports


def now_ms() -> int:
    return int(time.time() * 1000)
