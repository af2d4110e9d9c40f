"""Issue 19 item 1: rooms' credentials made by `medscribe notes room add` (a real
subprocess with the admin URL) on a Redis with the production ACLs; the room writes as
its own user, the notes service's gate (as the `notes` user) forwards only the room's own
starts and stops to ms:control, caps its open visits, and a revoked room is cut off."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis as sync_redis
from redis.exceptions import AuthenticationError, ConnectionError, NoPermissionError

from services.notes import room_admin
from services.notes.config import NotesSettings
from services.notes.metrics import NotesMetrics
from services.notes.room_gate import RoomGate
from shared import rooms
from shared.contracts import (
    EncounterFailed,
    EncounterStarted,
    EncounterStopped,
    EncounterTranscribed,
    StreamNames,
    decode_control,
    encode,
)
from shared.streams import make_redis
from tests.helpers.acl import PROD_PREFIX, AclRedis
from tests.helpers.procs import medscribe_cmd, subprocess_env
from tests.kit.waiting import eventually

N = StreamNames(PROD_PREFIX)


def room_cli(acl: AclRedis, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*medscribe_cmd(), "notes", "room", *args],
        env=subprocess_env(MEDSCRIBE_REDIS_ADMIN_URL=acl.admin_url, MEDSCRIBE_STREAM_PREFIX="ms:"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def room_url(acl: AclRedis, room: str, password: str) -> str:
    port = acl.admin_url.rsplit(":", 1)[1].split("/")[0]
    return f"redis://{rooms.user_of(room)}:{quote(password, safe='')}@127.0.0.1:{port}/0"


def add_room(acl: AclRedis, room: str) -> str:
    made = room_cli(acl, "add", room)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


@pytest.fixture
def admin(acl_redis: AclRedis) -> Any:
    client = sync_redis.Redis.from_url(acl_redis.admin_url)
    yield client
    for user in client.acl_users():
        if user.startswith(rooms.USER_PREFIX):
            client.acl_deluser(user)
    client.close()


@pytest.fixture
async def gate(acl_redis: AclRedis, tmp_path: Path) -> AsyncIterator[RoomGate]:
    settings = NotesSettings(
        redis_url=acl_redis.url("notes"),
        stream_prefix=PROD_PREFIX,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'n.db'}",
        room_max_open=2,
        room_refresh_s=0.1,
    )
    client = make_redis(settings.redis_url)
    gate = RoomGate(settings, client, NotesMetrics())
    stop = asyncio.Event()
    task = asyncio.create_task(gate.run(stop))
    yield gate
    stop.set()
    await asyncio.wait_for(task, 30)
    await client.aclose()


def started(room: str, enc: str) -> EncounterStarted:
    return EncounterStarted(encounter_id=enc, room=room, llm_model="m")


def control(admin: Any) -> list[tuple[str, str]]:
    out = []
    for _, fields in admin.xrange(N.control):
        msg = decode_control(fields)
        out.append((type(msg).__name__, msg.encounter_id))
    return out


async def test_room_cli_and_gate(acl_redis: AclRedis, admin: Any, gate: RoomGate) -> None:
    password = add_room(acl_redis, "exam-3")
    admin_async = make_redis(acl_redis.admin_url)
    try:  # the refusals in-process (each CLI start costs seconds on a busy machine)
        _, other = await room_admin.add(admin_async, N, "exam-30")
        for name, why in (("exam-3", "exists"), ("Exam.3", "room name")):
            with pytest.raises(room_admin.RoomAdminError, match=why):
                await room_admin.add(admin_async, N, name)
        with pytest.raises(room_admin.RoomAdminError, match="no room"):
            await room_admin.revoke(admin_async, N, "exam-4")
    finally:
        await admin_async.aclose()
    assert password
    assert other != password
    listed = room_cli(acl_redis, "list")
    assert listed.returncode == 0, listed.stderr
    assert "room-exam-3 " in listed.stdout
    assert "active" in listed.stdout
    assert password not in listed.stdout + listed.stderr

    room = sync_redis.Redis.from_url(room_url(acl_redis, "exam-3", password))
    mine = [rooms.new_encounter_id("exam-3") for _ in range(4)]
    foreign = rooms.new_encounter_id("exam-30")
    stream = rooms.control_stream(N, "exam-3")
    sent: list[Any] = [
        started("exam-3", mine[0]),
        EncounterTranscribed(encounter_id=mine[0], turn_count=1, audio_ms=1),  # forged outcome
        EncounterFailed(encounter_id=mine[0], stage="stt", reason="x"),  # forged outcome
        started("exam-30", foreign),  # another room's visit
        started("exam-30", mine[1]),  # its own id, another room's name
        started("exam-3", mine[1]),
        started("exam-3", mine[1]),  # a resend: forwarded again, counted once
        started("exam-3", mine[2]),  # over the cap of 2 open visits
        EncounterStopped(encounter_id=mine[0], last_frame_seq=3),
        started("exam-3", mine[3]),  # a slot is free again
    ]
    for msg in sent:
        room.xadd(stream, encode(msg))
    want = [
        ("EncounterStarted", mine[0]),
        ("EncounterStarted", mine[1]),
        ("EncounterStarted", mine[1]),
        ("EncounterStopped", mine[0]),
        ("EncounterStarted", mine[3]),
    ]
    await eventually(
        lambda: len(control(admin)) >= len(want) and admin.xlen(stream) == 0, what="gate"
    )
    assert control(admin) == want
    refused = {
        s.labels["outcome"]: s.value
        for m in gate.metrics.registry.collect()
        if m.name == "medscribe_notes_room_gate"
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert refused == {
        "forwarded": 5.0, "refused_type": 2.0, "refused_encounter": 1.0,
        "refused_room": 1.0, "refused_cap": 1.0,
    }  # fmt: skip

    # The room itself may not add to the shared stream, nor to another room's.
    with pytest.raises(NoPermissionError):
        room.xadd(N.control, encode(started("exam-3", mine[2])))
    with pytest.raises(NoPermissionError):
        room.xadd(rooms.control_stream(N, "exam-30"), encode(started("exam-30", foreign)))

    revoked = room_cli(acl_redis, "revoke", "exam-3")
    assert revoked.returncode == 0, revoked.stderr
    with pytest.raises((ConnectionError, AuthenticationError)):
        room.ping()  # its open connection was closed
    with pytest.raises((ConnectionError, AuthenticationError)):
        sync_redis.Redis.from_url(room_url(acl_redis, "exam-3", password)).ping()
    room.close()
    assert admin.hexists(rooms.registry_key(N), "exam-3") == 0
    assert admin.hexists(rooms.registry_key(N), "exam-30") == 1


def test_room_cli_without_admin_url_says_so() -> None:
    out = subprocess.run(
        [*medscribe_cmd(), "notes", "room", "list"],
        env=subprocess_env(MEDSCRIBE_REDIS_ADMIN_URL=""),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "MEDSCRIBE_REDIS_ADMIN_URL" in out.stderr
