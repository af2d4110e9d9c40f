"""A room machine killed mid-visit: the next start's recovery sends the rest of the audio
and closes the visit with a stop on the ROOM's control stream (its credentials may not
add to ms:control); the gate forwards it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis as sync_redis

from services.capture.recovery import recover_spools
from services.capture.spool import KIND_FRAME, EncounterSpool
from shared import rooms
from shared.contracts import EncounterStarted, EncounterStopped, decode_control, encode
from shared.streams import make_redis
from tests.helpers.acl import AclRedis
from tests.kit.waiting import eventually
from tests.rooms.room_fixtures import N, add_room, gate_settings, running_gate


async def test_recovery_stops_a_killed_rooms_visit(acl_redis: AclRedis, tmp_path: Path) -> None:
    url = await add_room(acl_redis, "exam-3")
    enc = rooms.new_encounter_id("exam-3")
    control = rooms.control_stream(N, "exam-3")
    meta = {"encounter_id": enc, "stream_prefix": N.prefix, "control_stream": control}
    spool = EncounterSpool.create(tmp_path / "spool", enc, meta)  # as the killed run left it
    for seq in range(5):
        spool.append(KIND_FRAME, seq, bytes([seq]) * 1600)
    spool.close()
    room = make_redis(url, retry=False)
    admin = sync_redis.Redis.from_url(acl_redis.admin_url)
    try:
        async with running_gate(gate_settings(acl_redis, tmp_path)):
            start = EncounterStarted(encounter_id=enc, room="exam-3", llm_model="m")
            await room.xadd(control, encode(start))  # type: ignore[arg-type]
            done = await asyncio.wait_for(
                recover_spools(room, tmp_path / "spool", asyncio.Event(), retry_s=0.1), 60
            )
            assert done == 1
            await eventually(
                lambda: admin.xlen(N.control) == 2, timeout=60, what="the stop forwarded"
            )
        sent = [decode_control(f) for _, f in admin.xrange(N.control)]
        assert isinstance(sent[1], EncounterStopped)
        assert (sent[1].encounter_id, sent[1].last_frame_seq) == (enc, 4)
        assert admin.xlen(N.audio(enc)) == 5
        assert not (tmp_path / "spool" / enc).exists()
    finally:
        await room.aclose()
        admin.close()
