"""Issue 19, left items 1-3 on the gate's side: two notes replicas' gates racing on one
Redis never admit past a room's cap; a refused start is told to the room on its visit's
live stream (and nowhere another room could read); a revoked room's keys go away."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis as sync_redis

from services.notes import room_admin
from services.notes.metrics import NotesMetrics
from services.notes.room_gate import RoomGate
from shared import rooms
from shared.contracts import (
    EncounterStarted,
    EncounterStopped,
    LiveNotice,
    decode,
    decode_control,
    encode,
)
from shared.streams import make_redis
from tests.helpers.acl import AclRedis
from tests.kit.waiting import eventually
from tests.rooms.room_fixtures import N, add_room, gate_settings, running_gate


def started(room: str, enc: str) -> EncounterStarted:
    return EncounterStarted(encounter_id=enc, room=room, llm_model="m")


async def test_two_replicas_never_admit_past_the_cap(acl_redis: AclRedis, tmp_path: Path) -> None:
    await add_room(acl_redis, "exam-3")
    settings = gate_settings(acl_redis, tmp_path, room_max_open=2)
    one, two = make_redis(settings.redis_url), make_redis(settings.redis_url)
    gates = [RoomGate(settings, c, NotesMetrics()) for c in (one, two)]
    admin = sync_redis.Redis.from_url(acl_redis.admin_url)
    try:
        for round_ in range(5):
            admin.delete(rooms.open_key(N, "exam-3"), N.control)
            starts = [started("exam-3", f"exam-3.r{round_}-{i}") for i in range(12)]
            outcomes = await asyncio.gather(
                *(gates[i % 2].check_and_forward("exam-3", m) for i, m in enumerate(starts))
            )
            assert sum(outcomes) == 2, f"round {round_}: {sum(outcomes)} admitted, cap is 2"
            assert admin.zcard(rooms.open_key(N, "exam-3")) == 2
            assert admin.xlen(N.control) == 2
            # each refused visit (and only those) got its refusal on its own live stream
            for msg, ok in zip(starts, outcomes, strict=True):
                live = admin.xrange(N.live(msg.encounter_id))
                assert len(live) == (0 if ok else 1)
        # a resend of an admitted start is admitted again and counted once
        admitted = [decode_control(f).encounter_id for _, f in admin.xrange(N.control)]
        again = await gates[1].check_and_forward("exam-3", started("exam-3", admitted[0]))
        assert again
        assert admin.zcard(rooms.open_key(N, "exam-3")) == 2
    finally:
        admin.close()
        await one.aclose()
        await two.aclose()


async def test_refusal_reaches_only_the_room(acl_redis: AclRedis, tmp_path: Path) -> None:
    url = await add_room(acl_redis, "exam-3")
    await add_room(acl_redis, "exam-30")
    room = sync_redis.Redis.from_url(url)
    admin = sync_redis.Redis.from_url(acl_redis.admin_url)
    mine = [rooms.new_encounter_id("exam-3") for _ in range(3)]
    foreign = rooms.new_encounter_id("exam-30")
    try:
        async with running_gate(gate_settings(acl_redis, tmp_path)):
            stream = rooms.control_stream(N, "exam-3")
            for msg in (
                started("exam-3", mine[0]),  # admitted: the cap is 1
                started("exam-3", mine[1]),  # refused_cap
                started("exam-30", mine[2]),  # refused_room: its own id, another room's name
                started("exam-30", foreign),  # refused_encounter: another room's visit
            ):
                room.xadd(stream, encode(msg))  # type: ignore[arg-type]
            await eventually(
                lambda: admin.exists(N.live(mine[2])) == 1, timeout=60, what="the refusals"
            )
        # the room reads its refusals with its own credentials
        notices = {}
        for enc in mine[1:]:
            rows = room.xrevrange(N.live(enc))  # what the room user may run
            assert len(rows) == 1
            notices[enc] = decode(rows[0][1], LiveNotice)
            assert 0 < admin.ttl(N.live(enc)) <= rooms.NOTICE_TTL_S  # nothing else frees it
        assert notices[mine[1]].kind == "refused"
        assert notices[mine[1]].reason == "refused_cap"
        assert notices[mine[2]].reason == "refused_room"
        assert admin.exists(N.live(mine[0])) == 0  # an admitted visit gets no notice
        assert admin.exists(N.live(foreign)) == 0  # never written where exam-30 reads
        assert list(admin.scan_iter(match="ms:live:exam-30*")) == []
    finally:
        room.close()
        admin.close()


async def test_a_revoked_rooms_keys_go_away(acl_redis: AclRedis, tmp_path: Path) -> None:
    url = await add_room(acl_redis, "exam-3")
    await add_room(acl_redis, "exam-4")
    room = sync_redis.Redis.from_url(url)
    admin = sync_redis.Redis.from_url(acl_redis.admin_url)
    admin_async = make_redis(acl_redis.admin_url)
    stream3, stream4 = rooms.control_stream(N, "exam-3"), rooms.control_stream(N, "exam-4")
    try:
        async with running_gate(gate_settings(acl_redis, tmp_path)) as gate:
            enc = rooms.new_encounter_id("exam-3")
            room.xadd(stream3, encode(started("exam-3", enc)))  # type: ignore[arg-type]
            await eventually(
                lambda: admin.xlen(N.control) == 1, timeout=60, what="the start forwarded"
            )
            await eventually(
                lambda: admin.xlen(stream4) == 0 and admin.exists(stream4),
                timeout=60,
                what="exam-4 read",
            )
            assert admin.exists(stream3, rooms.open_key(N, "exam-3")) == 2
            await room_admin.revoke(admin_async, N, "exam-3")
            # the gate's reader may make the stream again until it sees the revocation;
            # then the gate removes it too (nothing in it is pending)
            await eventually(
                lambda: "exam-3" in gate.retired,
                timeout=60,
                what="the gate acted on the revocation",
            )
            await asyncio.sleep(0.5)  # a few gate rounds: nothing may come back
            assert admin.exists(stream3, rooms.open_key(N, "exam-3")) == 0
            assert admin.exists(stream4) == 1  # another room's stream stays
        # entries nobody handled yet: the stream is kept, but not for ever
        stop4 = EncounterStopped(encounter_id="exam-4.x1", last_frame_seq=1)
        admin.xadd(stream4, encode(stop4))  # type: ignore[arg-type]
        await room_admin.revoke(admin_async, N, "exam-4")
        assert admin.xlen(stream4) == 1
        assert 0 < admin.ttl(stream4) <= rooms.RETIRE_TTL_S
    finally:
        room.close()
        admin.close()
        await admin_async.aclose()
