"""The consumer-group reader against real Redis: at-least-once, dead letters, reclaim."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter

import pytest
import redis.asyncio as aioredis

from shared.contracts import EncounterStopped, StreamNames, decode, encode
from shared.streams import ConsumerGroupReader, Delivery, PoisonEntry, make_redis, publish
from tests.kit.waiting import eventually


def _decoder(fields: dict[bytes, bytes]) -> EncounterStopped:
    return decode(fields, EncounterStopped)


def _msg(i: int) -> EncounterStopped:
    return EncounterStopped(encounter_id=f"enc-{i}", last_frame_seq=i)


def _reader(
    redis: aioredis.Redis,
    names: StreamNames,
    consumer: str,
    handler,  # type: ignore[no-untyped-def]
    **kw: object,
) -> ConsumerGroupReader[EncounterStopped]:
    opts: dict[str, object] = {"block_ms": 100, "claim_idle_ms": 300, "claim_every_s": 0.1}
    opts.update(kw)
    return ConsumerGroupReader(
        redis,
        stream=names.control,
        group="g",
        consumer=consumer,
        decoder=_decoder,
        handler=handler,
        dead_stream=names.dead,
        **opts,  # type: ignore[arg-type]
    )


async def _run(
    reader: ConsumerGroupReader[EncounterStopped],
) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(reader.run(stop))


async def _stop(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_entries_written_before_group_exists_are_read(redis, names) -> None:
    for i in range(5):
        await publish(redis, names.control, _msg(i))
    seen: list[int] = []

    async def handle(d: Delivery[EncounterStopped]) -> None:
        seen.append(d.message.last_frame_seq)

    stop, task = await _run(_reader(redis, names, "c1", handle))
    await eventually(lambda: len(seen) == 5, timeout=20, every=0.02)
    await _stop(stop, task)
    assert seen == [0, 1, 2, 3, 4]
    pending = await redis.xpending(names.control, "g")
    assert pending["pending"] == 0


async def test_crash_between_handling_and_ack_is_redelivered_to_another_consumer(
    redis, names
) -> None:
    await publish(redis, names.control, _msg(7))
    # Consumer "dead" takes the entry and dies before acking (a real XREADGROUP, no XACK).
    reader = _reader(redis, names, "dead", None)
    await reader.ensure_group()
    got = await redis.xreadgroup("g", "dead", {names.control: ">"}, count=10)
    assert len(got[0][1]) == 1

    handled: list[Delivery[EncounterStopped]] = []

    async def handle(d: Delivery[EncounterStopped]) -> None:
        handled.append(d)

    stop, task = await _run(_reader(redis, names, "alive", handle))
    await eventually(lambda: len(handled) == 1, timeout=20, every=0.02)
    await _stop(stop, task)
    assert handled[0].message.last_frame_seq == 7
    assert handled[0].deliveries == 2  # first to "dead", then reclaimed
    assert (await redis.xpending(names.control, "g"))["pending"] == 0


async def test_own_pending_entries_are_handled_first_after_restart(redis, names) -> None:
    for i in range(3):
        await publish(redis, names.control, _msg(i))
    reader = _reader(redis, names, "same", None, claim_idle_ms=60_000)
    await reader.ensure_group()
    await redis.xreadgroup("g", "same", {names.control: ">"}, count=2)  # took 0, 1; "crashed"
    await publish(redis, names.control, _msg(3))
    order: list[int] = []

    async def handle(d: Delivery[EncounterStopped]) -> None:
        order.append(d.message.last_frame_seq)

    stop, task = await _run(_reader(redis, names, "same", handle, claim_idle_ms=60_000))
    await eventually(lambda: len(order) == 4, timeout=20, every=0.02)
    await _stop(stop, task)
    assert order == [0, 1, 2, 3]


async def test_unparseable_entry_goes_to_dead_letter_and_stream_keeps_flowing(redis, names) -> None:
    await publish(redis, names.control, _msg(1))
    await redis.xadd(names.control, {"v": "1", "type": "EncounterStopped", "data": "{not json"})
    await redis.xadd(names.control, {"garbage": "x"})
    await redis.xadd(names.control, {"v": "99", "type": "EncounterStopped", "data": "{}"})
    await publish(redis, names.control, _msg(2))
    seen: list[int] = []

    async def handle(d: Delivery[EncounterStopped]) -> None:
        seen.append(d.message.last_frame_seq)

    stop, task = await _run(_reader(redis, names, "c", handle))
    await eventually(lambda: len(seen) == 2, timeout=20, every=0.02)
    await _stop(stop, task)
    assert seen == [1, 2]
    dead = await redis.xrange(names.dead)
    assert len(dead) == 3
    reasons = [fields[b"dead:reason"].decode() for _id, fields in dead]
    assert all(r.startswith("malformed:") for r in reasons)
    assert any("schema version 99" in r for r in reasons)
    # The original fields are kept for replay.
    assert dead[1][1][b"f:garbage"] == b"x"
    assert (await redis.xpending(names.control, "g"))["pending"] == 0


async def test_failing_handler_is_retried_then_dead_lettered(redis, names) -> None:
    await publish(redis, names.control, _msg(5))
    await publish(redis, names.control, _msg(6))
    attempts: Counter[int] = Counter()
    done: list[int] = []

    async def handle(d: Delivery[EncounterStopped]) -> None:
        attempts[d.message.last_frame_seq] += 1
        if d.message.last_frame_seq == 5:
            raise RuntimeError("always fails")
        if attempts[6] < 2:
            raise RuntimeError("fails once")
        done.append(6)

    reader = _reader(redis, names, "c", handle, claim_idle_ms=50, max_deliveries=3)
    stop, task = await _run(reader)
    await eventually(lambda: reader.stats.dead == 1 and done == [6], timeout=20, every=0.02)
    await _stop(stop, task)
    assert attempts[5] == 3
    dead = await redis.xrange(names.dead)
    assert dead[0][1][b"dead:reason"] == b"max_deliveries_exceeded"
    assert dead[0][1][b"dead:deliveries"] == b"4"


class DatabaseDown(Exception):
    """Stands for a dropped database connection: the entry is fine, the store is not."""


def _db_down(err: BaseException) -> bool:
    return isinstance(err, DatabaseDown)


async def test_transient_failure_retries_the_same_entry_at_once_in_order(redis, names) -> None:
    """A database outage longer than max_deliveries tries loses nothing and keeps order:
    the entry is retried here (not after claim_idle_ms) and never dead-lettered."""
    for i in range(3):
        await publish(redis, names.control, _msg(i))
    outage = {"left": 8}
    seen: list[int] = []

    async def handle(d: Delivery[EncounterStopped]) -> None:
        if d.message.last_frame_seq == 1 and outage["left"] > 0:
            outage["left"] -= 1
            raise DatabaseDown
        seen.append(d.message.last_frame_seq)

    # Reclaim far away: only the in-process retry can deliver entry 1 in time.
    reader = _reader(redis, names, "c", handle, claim_idle_ms=600_000, max_deliveries=2,
                     transient=_db_down, transient_retry_max_s=0.05)  # fmt: skip
    stop, task = await _run(reader)
    await eventually(lambda: len(seen) == 3, timeout=10, every=0.02)
    await _stop(stop, task)
    assert seen == [0, 1, 2]
    assert reader.stats.failed == 8
    assert reader.stats.dead == 0
    assert await redis.xlen(names.dead) == 0
    assert (await redis.xpending(names.control, "g"))["pending"] == 0


async def test_stop_during_transient_retries_leaves_the_entry_pending(redis, names) -> None:
    await publish(redis, names.control, _msg(1))
    tries: list[int] = []

    async def handle(d: Delivery[EncounterStopped]) -> None:
        tries.append(1)
        raise DatabaseDown

    reader = _reader(redis, names, "c", handle, claim_idle_ms=600_000, transient=_db_down)
    stop, task = await _run(reader)
    await eventually(lambda: len(tries) >= 2, timeout=20, every=0.02)
    await _stop(stop, task)
    assert (await redis.xpending(names.control, "g"))["pending"] == 1
    assert await redis.xlen(names.dead) == 0


async def test_non_transient_failure_still_waits_for_reclaim(redis, names) -> None:
    await publish(redis, names.control, _msg(1))
    tries: list[int] = []

    async def handle(d: Delivery[EncounterStopped]) -> None:
        tries.append(1)
        raise RuntimeError("bad entry")

    reader = _reader(redis, names, "c", handle, claim_idle_ms=600_000, transient=_db_down)
    stop, task = await _run(reader)
    await eventually(lambda: len(tries) == 1, timeout=20, every=0.02)
    await asyncio.sleep(0.5)
    await _stop(stop, task)
    assert tries == [1]  # no busy retry of an entry that is itself at fault


async def test_poison_entry_is_dead_lettered_at_once(redis, names) -> None:
    msg = _msg(9)
    await publish(redis, names.control, msg)

    async def handle(d: Delivery[EncounterStopped]) -> None:
        raise PoisonEntry("unknown_room")

    reader = _reader(redis, names, "c", handle)
    stop, task = await _run(reader)
    await eventually(lambda: reader.stats.dead == 1, timeout=20, every=0.02)
    await _stop(stop, task)
    dead = await redis.xrange(names.dead)
    assert dead[0][1][b"dead:reason"] == b"poison: unknown_room"
    assert dead[0][1][b"f:data"] == encode(msg)["data"].encode()


async def test_cancellation_leaves_in_flight_entry_pending(redis, names) -> None:
    await publish(redis, names.control, _msg(1))
    started = asyncio.Event()

    async def handle(d: Delivery[EncounterStopped]) -> None:
        started.set()
        await asyncio.sleep(60)

    stop, task = await _run(_reader(redis, names, "c", handle))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert (await redis.xpending(names.control, "g"))["pending"] == 1


async def test_one_by_one_by_default_a_slow_entry_holds_back_the_next(redis, names) -> None:
    for i in range(2):
        await publish(redis, names.control, _msg(i))
    release = asyncio.Event()
    seen: list[int] = []

    async def handle(d: Delivery[EncounterStopped]) -> None:
        seen.append(d.message.last_frame_seq)
        if d.message.last_frame_seq == 0:
            await release.wait()

    reader = _reader(redis, names, "c", handle, claim_idle_ms=600_000)
    stop, task = await _run(reader)
    await eventually(lambda: seen == [0], timeout=20, every=0.02)
    await asyncio.sleep(0.3)
    assert seen == [0]
    release.set()
    await eventually(lambda: reader.stats.handled == 2, timeout=20, every=0.02)
    await _stop(stop, task)
    assert seen == [0, 1]


async def test_concurrency_lets_later_entries_pass_a_slow_one(redis, names) -> None:
    """At most ``concurrency`` at once; a graceful stop lets the slow one finish and ack."""
    for i in range(4):
        await publish(redis, names.control, _msg(i))
    release = asyncio.Event()
    seen: list[int] = []
    running = {"now": 0, "most": 0}

    async def handle(d: Delivery[EncounterStopped]) -> None:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        try:
            if d.message.last_frame_seq == 0:
                await release.wait()
            else:
                await asyncio.sleep(0.05)
            seen.append(d.message.last_frame_seq)
        finally:
            running["now"] -= 1

    reader = _reader(redis, names, "c", handle, claim_idle_ms=600_000, concurrency=2)
    stop, task = await _run(reader)
    await eventually(lambda: seen == [1, 2, 3], timeout=20, every=0.02)
    stop.set()
    await asyncio.sleep(0.2)
    assert not task.done()  # waits for the entry still in flight
    release.set()
    await asyncio.wait_for(task, 10)
    assert seen == [1, 2, 3, 0]
    assert running["most"] == 2
    assert reader.stats.handled == 4
    assert (await redis.xpending(names.control, "g"))["pending"] == 0


async def test_an_entry_being_handled_is_never_reclaimed_nor_counted_again(redis, names) -> None:
    """A slow handler (a turn waiting for quota) runs ten times ``claim_idle_ms`` while a
    second live consumer reclaims every 0.1 s: the entry stays with its consumer, is
    handled once and its deliveries stay at 1 (before, each reclaim pass counted one more,
    and the entry was dead-lettered while its edit was still being written)."""
    await publish(redis, names.control, _msg(1))
    release = asyncio.Event()
    handled: list[tuple[str, int]] = []

    async def slow(d: Delivery[EncounterStopped]) -> None:
        await release.wait()
        handled.append(("slow", d.deliveries))

    async def other(d: Delivery[EncounterStopped]) -> None:
        handled.append(("other", d.deliveries))

    first = _reader(redis, names, "first", slow, concurrency=2, max_deliveries=2)
    stop1, task1 = await _run(first)
    await eventually(lambda: bool(first._inflight_ids), timeout=20, every=0.02)
    second = _reader(redis, names, "second", other, concurrency=2, max_deliveries=2)
    stop2, task2 = await _run(second)
    await asyncio.sleep(3.0)  # ten claim_idle_ms, thirty reclaim passes of "second"
    [row] = await redis.xpending_range(names.control, "g", min="-", max="+", count=10)
    assert (row["consumer"], row["times_delivered"]) == (b"first", 1)
    release.set()
    await eventually(lambda: handled == [("slow", 1)], timeout=20, every=0.02)
    await _stop(stop1, task1)
    await _stop(stop2, task2)
    assert await redis.xlen(names.dead) == 0
    assert (await redis.xpending(names.control, "g"))["pending"] == 0


async def test_concurrency_below_one_is_refused(redis, names) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        _reader(redis, names, "c", None, concurrency=0)


async def test_ten_thousand_entries_through_four_consumers_exactly_once_after_dedupe(
    redis, names
) -> None:
    total = 10_000
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(total):
            pipe.xadd(names.control, encode(_msg(i)))  # type: ignore[arg-type]
        await pipe.execute()
    handled: Counter[int] = Counter()
    rng = random.Random(42)

    def make_handler(flaky: bool):  # type: ignore[no-untyped-def]
        async def handle(d: Delivery[EncounterStopped]) -> None:
            if flaky and rng.random() < 0.01:
                raise RuntimeError("transient")
            handled[d.message.last_frame_seq] += 1

        return handle

    readers = [
        _reader(redis, names, f"c{i}", make_handler(i == 0), batch=100, claim_idle_ms=200)
        for i in range(4)
    ]
    runs = [await _run(r) for r in readers]
    # Kill one consumer part-way: what it took but did not ack must be reclaimed by others.
    await eventually(lambda: sum(handled.values()) > total // 4, timeout=60, every=0.02)
    runs[3][1].cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(runs[3][1], 10)
    await eventually(lambda: len(handled) == total, timeout=120, every=0.02)
    for stop, task in runs[:3]:
        await _stop(stop, task)
    assert set(handled) == set(range(total))  # none lost
    assert sum(handled.values()) >= total
    assert await redis.xlen(names.dead) == 0
    assert (await redis.xpending(names.control, "g"))["pending"] <= 1  # at most the cancelled one


@pytest.mark.parametrize("field", ["v", "data"])
async def test_dead_letter_keeps_reason_free_of_values(redis, names, field: str) -> None:
    fields = encode(EncounterStopped(encounter_id="e1", last_frame_seq=3))
    fields["data"] = '{"encounter_id": "e1", "last_frame_seq": "SECRET-PHI"}'
    if field == "v":
        fields["v"] = "SECRET-PHI"
    await redis.xadd(names.control, fields)  # type: ignore[arg-type]

    async def handle(d: Delivery[EncounterStopped]) -> None:  # pragma: no cover
        raise AssertionError("must not be called")

    reader = _reader(redis, names, "c", handle)
    stop, task = await _run(reader)
    await eventually(lambda: reader.stats.dead == 1, timeout=20, every=0.02)
    await _stop(stop, task)
    dead = await redis.xrange(names.dead)
    assert b"SECRET-PHI" not in dead[0][1][b"dead:reason"]


async def test_client_waits_for_a_free_connection_instead_of_failing(redis_url, names) -> None:
    """More commands at once than the pool holds queue for a connection (a plain redis-py
    pool raises MaxConnectionsError, which once stranded the editor's turns)."""
    client = make_redis(redis_url, max_connections=3)
    try:
        key = names.key("test", "never-filled")
        results = await asyncio.gather(*(client.blpop([key], timeout=0.1) for _ in range(12)))
        assert results == [None] * 12
        assert client.connection_pool.max_connections == 3
    finally:
        await client.aclose()


async def test_blocking_read_ended_by_redis_is_read_again_not_fatal(
    redis, redis_url, names
) -> None:
    """A failover turns the node a reader blocks on into a replica, and Redis ends the
    read with ``UNBLOCKED ...`` (seen in tests/cluster); ``CLIENT UNBLOCK ... ERROR`` gives
    the same reply here. The reader reads again instead of ending the service."""
    seen: list[str] = []

    async def handler(d: Delivery[EncounterStopped]) -> None:
        seen.append(d.message.encounter_id)

    reader = _reader(redis, names, "c1", handler, block_ms=10_000)
    stop, task = await _run(reader)
    admin = make_redis(redis_url)
    try:
        blocked: list[int] = []

        async def find_blocked() -> None:
            rows = await admin.client_list()
            blocked[:] = [int(r["id"]) for r in rows if r.get("cmd") == "xreadgroup"]

        deadline = asyncio.get_running_loop().time() + 20
        while not blocked:
            assert asyncio.get_running_loop().time() < deadline, "reader never blocked"
            await find_blocked()
            await asyncio.sleep(0.02)
        assert await admin.execute_command("CLIENT", "UNBLOCK", blocked[0], "ERROR") == 1
        await publish(redis, names.control, _msg(1))
        await eventually(lambda: seen == ["enc-1"] or task.done(), timeout=20, every=0.02)
        assert not task.done(), task.exception()
        assert seen == ["enc-1"]
    finally:
        await admin.aclose()
        await _stop(stop, task)


async def _end_blocked_read(admin: aioredis.Redis, how: str) -> None:
    """End the reader's blocking XREADGROUP as a Redis failure would: the connection lost
    (``kill``) or the read ended by Redis (``unblock``, what a failover's demotion gives)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        assert asyncio.get_running_loop().time() < deadline, "reader never blocked"
        rows = await admin.client_list()
        blocked = [int(r["id"]) for r in rows if r.get("cmd") == "xreadgroup" and "b" in r["flags"]]
        if blocked:
            if how == "kill":
                ended = await admin.client_kill_filter(_id=blocked[0])
            else:
                ended = await admin.execute_command("CLIENT", "UNBLOCK", blocked[0], "ERROR")
            if ended == 1:
                return
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("how", ["kill", "unblock"])
async def test_after_redis_failure_an_entry_in_flight_is_not_handled_again(
    redis, redis_url, names, how: str
) -> None:
    """With ``concurrency`` > 1, a Redis failure makes the reader re-read its own pending
    entries: the one a task is still handling must not be handed out a second time (it
    once was, and ran twice at once); its task acks it, and new entries keep flowing."""
    await publish(redis, names.control, _msg(0))
    release = asyncio.Event()
    started: Counter[int] = Counter()
    finished: Counter[int] = Counter()

    async def handle(d: Delivery[EncounterStopped]) -> None:
        seq = d.message.last_frame_seq
        started[seq] += 1
        if seq == 0:
            await release.wait()
        finished[seq] += 1

    # No client-side retry: the lost connection reaches the reader, as in an outage.
    client = make_redis(redis_url, retry=False)
    admin = make_redis(redis_url)
    reader = _reader(
        client, names, "c", handle, block_ms=1000, claim_idle_ms=600_000, concurrency=2
    )
    stop, task = await _run(reader)
    try:
        await eventually(lambda: started[0] == 1, timeout=20, every=0.02)
        await _end_blocked_read(admin, how)
        await publish(redis, names.control, _msg(1))
        # Entry 1 is read only after the own pending entries were re-read.
        await eventually(lambda: finished[1] == 1 or started[0] > 1, timeout=20, every=0.02)
        assert started[0] == 1, "the entry in flight was handed out again"
        release.set()
        await eventually(lambda: reader.stats.handled == 2, timeout=20, every=0.02)
        assert (await redis.xpending(names.control, "g"))["pending"] == 0
    finally:
        release.set()
        await _stop(stop, task)
        await client.aclose()
        await admin.aclose()
    assert started == Counter({0: 1, 1: 1})
    assert finished == Counter({0: 1, 1: 1})
    assert reader.stats.handled == 2
