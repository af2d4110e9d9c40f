"""The editor's reader (concurrency > 1) takes back its own pending turns that none of its
tasks is working on (a handler ended without its acknowledgement taking effect: Redis
failed mid-turn, or a failover dropped the write) within seconds, not after
``claim_idle_ms``, and never a turn one of its tasks is still editing."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.contracts import FinalTurn, StreamNames, decode
from shared.streams import ConsumerGroupReader, Delivery, publish
from tests.editor.support import make_turn
from tests.kit.waiting import eventually


def reader(redis: aioredis.Redis, names: StreamNames, handler) -> ConsumerGroupReader[FinalTurn]:  # type: ignore[no-untyped-def]
    return ConsumerGroupReader(
        redis,
        stream=names.turns,
        group="editor",
        consumer="c-0",
        decoder=lambda f: decode(f, FinalTurn),  # type: ignore[arg-type]
        handler=handler,
        dead_stream=names.dead,
        batch=4,
        concurrency=4,  # as the editor runs it
        block_ms=100,
        claim_idle_ms=600_000,  # a dead consumer's turns: not in this test's lifetime
        claim_every_s=0.2,
    )


async def test_a_turn_whose_handler_lost_redis_is_taken_again(
    redis: aioredis.Redis, names: StreamNames
) -> None:
    calls: list[tuple[int, int]] = []

    async def handler(d: Delivery[FinalTurn]) -> None:
        calls.append((d.message.seq, d.deliveries))
        if len(calls) == 1:
            raise RedisConnectionError("lost mid-turn")

    r = reader(redis, names, handler)
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop))
    try:
        await publish(redis, names.turns, make_turn("enc-o", 0))
        await eventually(lambda: len(calls) >= 2, what="the orphaned turn taken again")
        assert calls[:2] == [(0, 1), (0, 2)]
        await eventually(lambda: r.stats.handled == 1, what="acknowledged")
        assert (await redis.xpending(names.turns, "editor"))["pending"] == 0
    finally:
        stop.set()
        await task


async def test_a_turn_still_being_edited_is_not_taken_again(
    redis: aioredis.Redis, names: StreamNames
) -> None:
    calls: list[int] = []
    release = asyncio.Event()

    async def handler(d: Delivery[FinalTurn]) -> None:
        calls.append(d.deliveries)
        await release.wait()  # a slow gateway call

    r = reader(redis, names, handler)
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop))
    try:
        await publish(redis, names.turns, make_turn("enc-s", 0))
        await eventually(lambda: calls == [1], what="the turn taken")
        await asyncio.sleep(2.5)  # idle past the orphan threshold, many claim passes
        assert calls == [1]
        release.set()
        await eventually(lambda: r.stats.handled == 1, what="finished once")
        assert calls == [1]
    finally:
        release.set()
        stop.set()
        await task
