"""The replica's shared audio reader and partial publisher against real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError

from services.stt_bridge.audio import AudioReader, Frame, _flat_parts
from services.stt_bridge.audio_hub import AudioHub
from services.stt_bridge.metrics import BridgeMetrics
from services.stt_bridge.partials import PartialSink
from shared.contracts import (
    AudioFrame,
    MalformedEntry,
    PartialTurn,
    StreamNames,
    audio_parts,
    decode,
    encode_audio,
)


async def _add(redis: Any, stream: str, seq: int, pcm: bytes) -> str:
    fields: Any = encode_audio(AudioFrame(encounter_id="x", seq=seq, pcm=pcm))
    entry = await redis.xadd(stream, fields)
    return str(entry.decode())


@contextlib.asynccontextmanager
async def _running(hub: AudioHub) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def _read_until(r: AudioReader, n: int, timeout: float = 10.0) -> list[Frame]:
    out: list[Frame] = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            out.extend(await r.read(20))
    return out


async def test_one_read_serves_every_encounter_in_order(redis: Any, names: StreamNames) -> None:
    hub = AudioHub(redis, block_ms=20, interval_s=0.0)
    eids = [f"h{i}" for i in range(5)]
    expected: dict[str, bytes] = {}
    for eid in eids:
        frames = [bytes([i]) * (160 + 2 * i) for i in range(30)]
        for i, pcm in enumerate(frames):
            await _add(redis, names.audio(eid), i, pcm)
        expected[eid] = b"".join(frames)
    readers = {e: AudioReader(redis, names.audio(e), encounter_id=e, hub=hub) for e in eids}
    for r in readers.values():
        r.seek(("0-0", 0, -1), 0)
    async with _running(hub):
        got = {e: await _read_until(r, 30) for e, r in readers.items()}
        # live frames reach their own reader only, after the backlog
        await _add(redis, names.audio("h2"), 30, b"\x77" * 320)
        late = await _read_until(readers["h2"], 1)
    for e in eids:
        assert b"".join(f.pcm for f in got[e]) == expected[e]
        assert [f.seq for f in got[e]] == list(range(30))
    assert [f.seq for f in late] == [30]
    for r in readers.values():
        assert await r.read(None) == []
    # 150 backlog frames of 5 encounters came in a handful of round trips, not 150
    assert hub.reads < 30


async def test_seek_rereads_from_the_checkpoint_without_doubles_or_gaps(
    redis: Any, names: StreamNames
) -> None:
    stream = names.audio("h-seek")
    frames = [bytes([i]) * 320 for i in range(20)]
    for i, pcm in enumerate(frames):
        await _add(redis, stream, i, pcm)
    whole = b"".join(frames)
    hub = AudioHub(redis, block_ms=20, interval_s=0.0)
    r = AudioReader(redis, stream, encounter_id="h-seek", hub=hub)
    r.seek(("0-0", 0, -1), 0)
    async with _running(hub):
        first = await _read_until(r, 12)
        target = 3000  # inside frame 9: a resumed session starts mid-frame
        ckpt = r.checkpoint_for(target, ("0-0", 0, -1))
        # the hub may already hold (and be reading) frames past this point: a seek
        # must drop them and start again from the checkpoint
        await asyncio.sleep(0.1)
        r.seek(ckpt, target)
        again = await _read_until(r, 20 - 9)
    assert [f.seq for f in first] == list(range(len(first)))
    assert b"".join(f.pcm for f in again) == whole[target:]
    assert [f.seq for f in again] == list(range(9, 20))


async def test_a_slow_reader_is_buffered_boundedly_and_loses_nothing(
    redis: Any, names: StreamNames
) -> None:
    stream = names.audio("h-slow")
    for i in range(40):
        await _add(redis, stream, i, bytes([i]) * 32)
    hub = AudioHub(redis, block_ms=20, interval_s=0.0, count=3, max_buffered=5)
    r = AudioReader(redis, stream, encounter_id="h-slow", hub=hub)
    r.seek(("0-0", 0, -1), 0)
    async with _running(hub):
        await asyncio.sleep(0.3)  # the session is not reading (paced, or reconnecting)
        sub = hub._subs[stream]
        assert len(sub.entries) < 5 + 3  # left out of reads once it holds max_buffered
        got = await _read_until(r, 40)
    assert [f.seq for f in got] == list(range(40))


async def test_a_redis_failure_reaches_the_reader_once_and_a_seek_clears_it(
    names: StreamNames,
) -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    hub = AudioHub(dead, block_ms=20, interval_s=0.0, retry_s=0.05)
    r = AudioReader(dead, names.audio("h-down"), encounter_id="h-down", hub=hub)
    r.seek(("0-0", 0, -1), 0)
    try:
        async with _running(hub):
            with pytest.raises(RedisConnectionError):
                await _read_until(r, 1)  # raises, once the hub's XREAD failed
            r.seek(("0-0", 0, -1), 0)  # the encounter starts a new session: error cleared
            assert hub._subs[names.audio("h-down")].error is None
        r.close()
        assert names.audio("h-down") not in hub._subs
    finally:
        await dead.aclose()


async def test_partials_are_coalesced_per_encounter_and_pipelined(
    redis: Any, names: StreamNames
) -> None:
    metrics = BridgeMetrics()
    sink = PartialSink(redis, metrics)
    a, b, c = (names.partials(e) for e in ("pa", "pb", "pc"))
    for i in range(10):  # ten words of one turn while nothing was sent yet
        sink.offer(a, PartialTurn(encounter_id="pa", text=f"word {i}", at_ms=i))
    sink.offer(b, PartialTurn(encounter_id="pb", text="other room", at_ms=5))
    sink.offer(c, PartialTurn(encounter_id="pc", text="turned final", at_ms=5), turn_order=3)
    sink.discard(c, 3)  # its turn became final first: the stale partial is never shown
    d = names.partials("pd")
    sink.offer(d, PartialTurn(encounter_id="pd", text="next turn", at_ms=9), turn_order=5)
    sink.discard(d, 4)  # the final of an earlier turn: the next turn's partial stays
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        async with asyncio.timeout(10):
            while sink.pending or sink.round_trips < 1:
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    got_a = [decode(f, PartialTurn) for _, f in await redis.xrange(a)]
    assert [p.text for p in got_a] == ["word 9"]  # the latest wins
    assert [decode(f, PartialTurn).text for _, f in await redis.xrange(b)] == ["other room"]
    assert await redis.xlen(c) == 0
    assert [decode(f, PartialTurn).text for _, f in await redis.xrange(d)] == ["next turn"]
    assert sink.round_trips == 1  # all rooms in one pipelined round trip
    assert metrics.partials._value.get() == 3  # type: ignore[attr-defined]
    assert metrics.partials_coalesced._value.get() == 9  # type: ignore[attr-defined]


async def test_partials_survive_a_redis_failure_without_raising(names: StreamNames) -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    sink = PartialSink(dead, BridgeMetrics(), retry_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        sink.offer(names.partials("pd"), PartialTurn(encounter_id="pd", text="lost", at_ms=0))
        async with asyncio.timeout(10):
            while sink.pending:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert not task.done()  # a UI-only partial never ends the publisher
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await dead.aclose()
    assert sink.round_trips == 0


async def test_a_new_subscription_replaces_the_old_one(redis: Any, names: StreamNames) -> None:
    stream = names.audio("h-twice")
    for i in range(3):
        await _add(redis, stream, i, bytes([i]) * 32)
    hub = AudioHub(redis, block_ms=20, interval_s=0.0)
    old = AudioReader(redis, stream, encounter_id="h-twice", hub=hub)
    old.seek(("0-0", 0, -1), 0)
    new = AudioReader(redis, stream, encounter_id="h-twice", hub=hub)
    new.seek(("0-0", 0, -1), 0)
    old.close()  # the previous holder lets go late: the new one keeps reading
    async with _running(hub):
        got = await _read_until(new, 3)
    assert [f.seq for f in got] == [0, 1, 2]


async def test_a_read_in_flight_never_feeds_a_visit_taken_again(
    redis: Any, names: StreamNames
) -> None:
    """The visit's lease is lost (its reader unsubscribes) and the same replica takes it
    again at its stored position (a new subscription of the same stream) while the hub's
    XREAD at the old, later position is still in flight: that read's frames must not reach
    the new holder, which would skip the frames between the two positions (seen in the
    cluster failover test as `audio_frames_missing` and a turn cut differently)."""
    stream = names.audio("h-again")
    ids = [await _add(redis, stream, i, bytes([i]) * 32) for i in range(6)]
    hub = AudioHub(redis, block_ms=20, interval_s=0.0)
    first = AudioReader(redis, stream, encounter_id="h-again", hub=hub)
    first.seek((ids[3], 4 * 32, 3), 4 * 32)  # the old holder had read frames 0-3
    assert first._sub is not None
    in_flight = {stream: first._sub.gen}  # the hub's XREAD is issued at that position ...
    reply = await redis.xread({stream: ids[3]})
    first.close()  # ... the lease is lost, and the visit taken again from frame 1
    again = AudioReader(redis, stream, encounter_id="h-again", hub=hub)
    again.seek((ids[0], 32, 0), 32)
    assert not hub._deliver(reply, in_flight)  # the stale read's frames 4-5 are dropped
    async with _running(hub):
        got = await _read_until(again, 5)
    assert [f.seq for f in got] == [1, 2, 3, 4, 5]  # from its own position, nothing skipped


async def test_a_malformed_entry_read_through_the_hub_is_dead_lettered(
    redis: Any, names: StreamNames
) -> None:
    """The hub hands the raw ``[name, value, ...]`` fields over: a bad entry among them is
    skipped and dead-lettered with its fields, as with the reader's own XREAD."""
    stream = names.audio("h-bad")
    await _add(redis, stream, 0, b"\x01" * 32)
    bad_id = (await redis.xadd(stream, {"seq": "x", "pcm": b"ab"})).decode()
    await _add(redis, stream, 1, b"\x02" * 32)
    hub = AudioHub(redis, block_ms=20, interval_s=0.0)
    r = AudioReader(
        redis, stream, encounter_id="h-bad", hub=hub, dead_stream=names.dead,
        dead_mark_prefix=names.key("bridge", "dead", ""),
    )  # fmt: skip
    r.seek(("0-0", 0, -1), 0)
    async with _running(hub):
        got = await _read_until(r, 2)
    assert [f.seq for f in got] == [0, 1]
    dead = await redis.xrange(names.dead)
    assert [(row[b"dead:entry_id"], row[b"f:seq"]) for _, row in dead] == [(bad_id.encode(), b"x")]


async def test_a_reader_is_woken_once_its_frames_came_or_its_wait_is_over(
    redis: Any, names: StreamNames
) -> None:
    """One timer for all: a reader asking for 3 frames is not woken by the first two; with
    only those by the end of its wait, it gets them then (the hub's loop ends the wait)."""
    stream = names.audio("h-want")
    hub = AudioHub(redis, block_ms=50, interval_s=0.0)
    r = AudioReader(redis, stream, encounter_id="h-want", hub=hub)
    r.seek(("0-0", 0, -1), 0)
    async with _running(hub):
        reading = asyncio.create_task(r.read(10_000, want=3))
        for seq in range(2):
            await _add(redis, stream, seq, b"\x01" * 32)
        await asyncio.sleep(0.3)  # both delivered (many reads), the reader still waits
        assert not reading.done()
        await _add(redis, stream, 2, b"\x01" * 32)
        assert [f.seq for f in await asyncio.wait_for(reading, 5)] == [0, 1, 2]
        await _add(redis, stream, 3, b"\x01" * 32)
        short = await asyncio.wait_for(r.read(100, want=3), 5)  # ends by its deadline
        assert [f.seq for f in short] == [3]
        assert await asyncio.wait_for(r.read(50), 5) == []  # nothing came: empty, not stuck
    # Without the hub's loop running, a wait still ends by its own timer.
    assert await asyncio.wait_for(r.read(20, want=2), 5) == []


_field_name = st.sampled_from([b"seq", b"pcm", "seq", "pcm", b"x", b"v"])
_field_value = st.one_of(
    st.binary(max_size=6), st.sampled_from([b"0", b"12", b"-1", b"x", "7", "ab"])
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_field_name, _field_value), max_size=4))
def test_raw_audio_fields_read_as_the_dict_fields(pairs: list[tuple[Any, Any]]) -> None:
    """The audio hub's raw ``[name, value, ...]`` entries give the same ``(seq, pcm)``, or
    the same refusal, as redis-py's dict of them (the last of a repeated name wins)."""
    flat = [x for pair in pairs for x in pair]
    as_dict = dict(pairs)

    def read(f: Any, fields: Any) -> Any:
        try:
            return f(fields)
        except MalformedEntry as err:
            return ("malformed", str(err))

    if b"seq" in as_dict and "seq" in as_dict or b"pcm" in as_dict and "pcm" in as_dict:
        return  # both spellings of one name: not a reply Redis can send
    assert read(_flat_parts, flat) == read(audio_parts, as_dict)


async def test_a_read_ended_by_a_failover_is_sent_again(redis: Any, names: StreamNames) -> None:
    """A cluster failover ends a blocked XREAD with "UNBLOCKED ... master -> replica" (a
    CI run of the partition test saw it). Before, the hub raised it and took the bridge
    down; now it reads again and the frames still come. CLIENT UNBLOCK ... ERROR gives the
    same reply on a single Redis."""
    hub = AudioHub(redis, block_ms=5000, interval_s=0.0)
    stream = names.audio("h-unblock")
    reader = AudioReader(redis, stream, encounter_id="h-unblock", hub=hub)
    reader.seek(("0-0", 0, -1), 0)
    async with _running(hub):
        waiting = asyncio.create_task(_read_until(reader, 1))
        unblocked = 0
        async with asyncio.timeout(10):
            while not unblocked:
                await asyncio.sleep(0.05)
                clients: Any = await redis.client_list()
                for c in clients:
                    if c.get("cmd") == "xread" and "b" in c.get("flags", ""):
                        unblocked += int(await redis.client_unblock(int(c["id"]), error=True))
        await _add(redis, stream, 0, b"\x01" * 320)
        frames = await waiting
    assert [f.seq for f in frames] == [0]
