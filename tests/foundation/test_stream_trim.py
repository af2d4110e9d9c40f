"""Trimming the shared streams on a real Redis: never past an entry some group has not
acknowledged (pending or not yet delivered), a debugging tail kept, and no trim at all
while a group that must read the stream does not exist yet."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from shared.contracts import StreamNames
from shared.trim import (
    format_id,
    group_lags,
    minid_is_safe,
    parse_id,
    trim_shared_streams,
    trim_stream,
)


async def fill(redis: aioredis.Redis, stream: str, n: int) -> list[str]:
    return [(await redis.xadd(stream, {"i": str(i)})).decode() for i in range(n)]


async def read(redis: aioredis.Redis, stream: str, group: str, n: int) -> list[str]:
    reply = await redis.xreadgroup(group, "c1", {stream: ">"}, count=n)
    return [eid.decode() for eid, _ in reply[0][1]] if reply else []


async def ids(redis: aioredis.Redis, stream: str) -> list[str]:
    return [eid.decode() for eid, _ in await redis.xrange(stream)]


async def test_trim_stops_at_oldest_pending_and_undelivered(
    redis: aioredis.Redis, names: StreamNames
) -> None:
    stream = names.turns
    all_ids = await fill(redis, stream, 30)
    for group in ("fast", "slow", "idle"):
        await redis.xgroup_create(stream, group, id="0")
    # fast: read and acked 25; slow: read 20, acked all but #12; idle: acked 18, read none more.
    await redis.xack(stream, "fast", *await read(redis, stream, "fast", 25))
    got = await read(redis, stream, "slow", 20)
    await redis.xack(stream, "slow", *[g for g in got if g != all_ids[12]])
    await redis.xack(stream, "idle", *await read(redis, stream, "idle", 18))

    lags = {lag.group: lag for lag in await group_lags(redis, stream)}
    assert lags["fast"].oldest_unacked == parse_id(all_ids[25])
    assert lags["slow"].oldest_unacked == parse_id(all_ids[12])
    assert lags["slow"].pending == 1
    assert lags["idle"].oldest_unacked == parse_id(all_ids[18])

    report = await trim_stream(redis, stream, "turns", keep_tail=3, required_groups=["slow"])
    assert report.skipped is None
    assert await ids(redis, stream) == all_ids[12:]  # slow's pending #12 is the floor
    assert report.trimmed == 12
    assert report.length == 18

    # slow acks #12: now idle's undelivered #18 is the floor.
    await redis.xack(stream, "slow", all_ids[12])
    await trim_stream(redis, stream, "turns", keep_tail=3)
    assert await ids(redis, stream) == all_ids[18:]
    # Everyone has everything: only the debugging tail stays.
    for group in ("fast", "slow", "idle"):
        await redis.xack(stream, group, *await read(redis, stream, group, 100))
    await trim_stream(redis, stream, "turns", keep_tail=3)
    assert await ids(redis, stream) == all_ids[-3:]
    # New entries are never lost to a trim: nobody has read them.
    new = await fill(redis, stream, 5)
    await trim_stream(redis, stream, "turns", keep_tail=0)
    assert await ids(redis, stream) == new
    # keep_tail=0 with everything acknowledged empties the stream.
    for group in ("fast", "slow", "idle"):
        await redis.xack(stream, group, *await read(redis, stream, group, 100))
    await trim_stream(redis, stream, "turns", keep_tail=0)
    assert await redis.xlen(stream) == 0


async def test_pending_entry_survives_even_when_older_than_the_tail(
    redis: aioredis.Redis, names: StreamNames
) -> None:
    stream = names.edited
    all_ids = await fill(redis, stream, 10)
    await redis.xgroup_create(stream, "notes", id="0")
    got = await read(redis, stream, "notes", 10)
    await redis.xack(stream, "notes", *got[1:])  # entry 0 stays pending (a crashed consumer)
    await trim_stream(redis, stream, "turns:edited", keep_tail=2)
    assert await ids(redis, stream) == all_ids
    claimed = await redis.xclaim(stream, "notes", "c2", 0, [all_ids[0]])
    assert claimed[0][1] == {b"i": b"0"}  # still readable by whoever takes it over


async def test_no_trim_while_a_required_group_is_missing(
    redis: aioredis.Redis, names: StreamNames
) -> None:
    await fill(redis, names.control, 20)
    await redis.xgroup_create(names.control, "notes", id="$")  # notes has seen everything
    reports = {r.name: r for r in await trim_shared_streams(redis, names, keep_tail=1)}
    # bridge and editor have not started yet: what they will need is unknown.
    assert reports["control"].skipped == "group_missing:bridge,editor"
    assert await redis.xlen(names.control) == 20
    for group in ("bridge", "editor"):
        await redis.xgroup_create(names.control, group, id="$")
    reports = {r.name: r for r in await trim_shared_streams(redis, names, keep_tail=1)}
    assert reports["control"].trimmed == 19
    assert reports["turns"].skipped == "no_groups"  # empty stream, no consumer yet
    assert reports["dead"].length == 0


@pytest.mark.parametrize("minid_ok", [True, False], ids=["xtrim-minid", "xdel"])
async def test_far_apart_ids_keep_the_tail(
    redis: aioredis.Redis, names: StreamNames, minid_ok: bool
) -> None:
    """An old entry in the same stream node as new ones (redis#9410: Redis 6.2 before 6.2.7
    trimmed everything here); XDEL, the fallback for such servers, keeps the same entries."""
    stream = names.turns
    old = (await redis.xadd(stream, {"i": "old"}, id="1000000000000-0")).decode()
    new = await fill(redis, stream, 5)
    await redis.xgroup_create(stream, "editor", id="$")
    if minid_ok and not await minid_is_safe(redis):
        pytest.skip("this Redis has the XTRIM MINID bug; the xdel case covers it")
    report = await trim_stream(redis, stream, "turns", keep_tail=2, minid_ok=minid_ok)
    assert await ids(redis, stream) == new[-2:]
    assert report.trimmed == 4
    assert old not in await ids(redis, stream)


def test_id_helpers() -> None:
    assert parse_id(b"1700000000000-5") == (1700000000000, 5)
    assert format_id((1, 2)) == "1-2"
    assert parse_id("3") == (3, 0)
