"""Leases, encounter state and the audio reader against real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.stt_bridge.audio import AudioReader
from services.stt_bridge.lease import Leases
from services.stt_bridge.state import EncounterStore, LeaseLost
from shared.contracts import (
    AudioFrame,
    EncounterStarted,
    EncounterTranscribed,
    FinalTurn,
    StreamNames,
    decode,
    decode_control,
    encode_audio,
)
from shared.dlq import list_dead


def _turn(eid: str, seq: int, sid: str = "s1", order: int = 0) -> FinalTurn:
    return FinalTurn(encounter_id=eid, seq=seq, stt_session_id=sid, turn_order=order,
                     text="t", start_ms=0, end_ms=1)  # fmt: skip


async def test_lease_take_renew_release_and_expiry(redis: Any, names: StreamNames) -> None:
    a = Leases(redis, names, "a", lease_ms=300)
    b = Leases(redis, names, "b", lease_ms=300)
    assert await a.acquire("e1")
    assert await a.acquire("e1")  # re-taking one's own lease (after an outage) is fine
    assert not await b.acquire("e1")
    assert await a.renew_many(["e1"]) == {"e1": True}
    assert await b.renew_many(["e1"]) == {"e1": False}
    assert not await b.release("e1")  # only the owner may release
    await asyncio.sleep(0.45)  # a dies: no renewals
    assert await b.acquire("e1")
    assert await a.renew_many(["e1"]) == {"e1": False}  # a learns it lost the lease
    assert await b.release("e1")
    assert await b.owner("e1") is None


async def test_publish_turn_is_fenced_atomic_and_deduplicated(
    redis: Any, names: StreamNames
) -> None:
    store = EncounterStore(redis, names, state_ttl_s=60)
    a = Leases(redis, names, "a", lease_ms=10_000)
    b = Leases(redis, names, "b", lease_ms=10_000)
    started = EncounterStarted(encounter_id="e1", room="r", llm_model="m")
    assert await store.register(started)
    assert await a.acquire("e1")
    ckpt = ("5-0", 1600, 0)
    assert await store.publish_turn(a.token, _turn("e1", 0), resume_pos=3200, ckpt=ckpt)
    # the same (session, turn_order) again: not published twice
    assert not await store.publish_turn(a.token, _turn("e1", 1), resume_pos=3300, ckpt=ckpt)
    with pytest.raises(LeaseLost):  # not the owner: nothing written
        await store.publish_turn(b.token, _turn("e1", 1, order=1), resume_pos=1, ckpt=ckpt)
    with pytest.raises(LeaseLost):  # a counter that disagrees with Redis
        await store.publish_turn(a.token, _turn("e1", 5, order=1), resume_pos=1, ckpt=ckpt)
    st = await store.load("e1")
    assert (st.next_seq, st.resume_pos, st.ckpt_id, st.ckpt_pos, st.ckpt_seq) == (
        1, 3200, "5-0", 1600, 0,
    )  # fmt: skip
    rows = await redis.xrange(names.turns)
    assert [decode(f, FinalTurn).seq for _, f in rows] == [0]
    msg = EncounterTranscribed(encounter_id="e1", turn_count=1, audio_ms=100)
    with pytest.raises(LeaseLost):
        await store.finish("e1", b.token, msg)
    await store.finish("e1", a.token, msg)
    assert (await store.load("e1")).status == "done"
    assert await store.active_ids() == []
    assert await a.owner("e1") is None
    assert not await store.register(started)  # a redelivered start does not revive it
    (last,) = [decode_control(f) for _, f in await redis.xrange(names.control)]
    assert last == msg


async def test_stop_before_start_is_kept_with_expiry(redis: Any, names: StreamNames) -> None:
    store = EncounterStore(redis, names, state_ttl_s=60)
    await store.record_stop("e2", 41)
    assert await store.stop_seq("e2") == 41
    assert 0 < await redis.ttl(store.state_key("e2")) <= 60
    await store.register(EncounterStarted(encounter_id="e2", room="r", llm_model="m"))
    assert await redis.ttl(store.state_key("e2")) == -1  # a real encounter: no expiry
    st = await store.load("e2")
    assert st.stop_seq == 41
    assert st.started is not None


async def _add(redis: Any, stream: str, seq: int, pcm: bytes) -> str:
    fields: Any = encode_audio(AudioFrame(seq=seq, pcm=pcm))
    entry = await redis.xadd(stream, fields)
    return str(entry.decode())


async def test_audio_reader_seeks_to_exact_byte_and_checkpoints(
    redis: Any, names: StreamNames
) -> None:
    stream = names.audio("e3")
    frames = [bytes([i]) * (100 + 2 * i) for i in range(10)]  # odd sizes, distinct bytes
    for i, pcm in enumerate(frames):
        await _add(redis, stream, i, pcm)
    await _add(redis, stream, 4, b"\x09" * 8)  # a duplicate seq (capture re-sent its spool)
    await redis.xadd(stream, {"seq": "x", "pcm": b"ab"})  # malformed: skipped, logged
    whole = b"".join(frames)
    r = AudioReader(redis, stream, encounter_id="e3")
    got = b"".join(f.pcm for f in await r.read(None))
    assert got == whole
    assert r.last_seq == 9
    assert r.pos == len(whole)
    # resume at an arbitrary position from the best checkpoint, as another replica would
    target = 700
    ckpt = r.checkpoint_for(target, ("0-0", 0, -1))
    assert ckpt[1] <= target
    r2 = AudioReader(redis, stream, encounter_id="e3")
    r2.seek(ckpt, target)
    assert b"".join(f.pcm for f in await r2.read(None)) == whole[target:]
    # an empty read blocks at most block_ms
    assert await r2.read(20) == []


async def test_audio_reader_skips_whole_frames_before_the_resume_point(
    redis: Any, names: StreamNames
) -> None:
    stream = names.audio("e4")
    for i in range(5):
        await _add(redis, stream, i, bytes([i]) * 1600)
    r = AudioReader(redis, stream, encounter_id="e4")
    r.seek(("0-0", 0, -1), 3200)
    frames = await r.read(None)
    assert [f.seq for f in frames] == [2, 3, 4]
    assert frames[0].pcm == b"\x02" * 1600


async def test_malformed_audio_entry_is_dead_lettered_once(redis: Any, names: StreamNames) -> None:
    stream = names.audio("e9")
    frames = [bytes([i]) * 160 for i in range(6)]
    for i, pcm in enumerate(frames[:3]):
        await _add(redis, stream, i, pcm)
    bad_id = (await redis.xadd(stream, {"seq": "x", "pcm": b"ab"})).decode()
    for i, pcm in enumerate(frames[3:], start=3):
        await _add(redis, stream, i, pcm)
    mark = names.key("bridge", "dead", "")

    def reader() -> AudioReader:
        return AudioReader(
            redis, stream, encounter_id="e9", dead_stream=names.dead, dead_mark_prefix=mark
        )

    first = reader()
    assert b"".join(f.pcm for f in await first.read(None)) == b"".join(frames)
    # Another replica (or a reconnect's seek) reads the same entries again.
    again = reader()
    again.seek(("0-0", 0, -1), 0)
    assert b"".join(f.pcm for f in await again.read(None)) == b"".join(frames)

    dead = await list_dead(redis, names.dead)
    assert [(d.stream, d.entry_id, d.group) for d in dead] == [(stream, bad_id, "stt-bridge")]
    assert dead[0].reason.startswith("malformed")
    # `medscribe dlq replay` puts back exactly what was written.
    row = (await redis.xrange(names.dead))[0][1]
    assert (row[b"f:seq"], row[b"f:pcm"]) == (b"x", b"ab")
