"""Issue 19: a room's own Redis user (shared/rooms.py), created as `medscribe notes room
add` creates it, on a real Redis loaded with the production ACL file. A table of every
command the room runs (allowed) and of what it must never run (refused), then the same
as a logged-in room: refused at once when revoked."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis as sync_redis
from redis.exceptions import AuthenticationError, ConnectionError, NoPermissionError

from shared import rooms
from shared.contracts import StreamNames
from shared.redis_acl import check_permissions, uses
from shared.streams import make_redis
from tests.helpers.acl import AclRedis

N = StreamNames("ms:")
ROOM = "exam-3"
USER = rooms.user_of(ROOM)
MINE = f"{ROOM}.20261206-a1"
# Rooms whose names start like exam-3's: none of their keys may match exam-3's patterns.
NEIGHBOURS = ("exam-30", "exam-3-b", "exam")


def _add_room(admin: sync_redis.Redis, room: str) -> str:
    password = secrets.token_urlsafe(16)
    line = rooms.acl_line(N, room, password).split()
    admin.execute_command("ACL", "SETUSER", line[1], "reset", *line[2:])
    return password


@pytest.fixture
def admin(acl_redis: AclRedis) -> Iterator[sync_redis.Redis]:
    client = sync_redis.Redis.from_url(acl_redis.admin_url)
    yield client
    client.close()


@pytest.fixture
def room_password(admin: sync_redis.Redis) -> Iterator[str]:
    password = _add_room(admin, ROOM)
    yield password
    admin.execute_command("ACL", "DELUSER", USER)


def _dryrun(admin: sync_redis.Redis, *argv: str) -> str:
    reply = admin.execute_command("ACL", "DRYRUN", USER, *argv)
    return reply.decode() if isinstance(reply, bytes) else str(reply)


MAY = [u.argv for u in uses(f"room:{ROOM}", N)] + [
    ("XADD", N.audio(MINE), "5-0", "f", "v"),
    ("XREVRANGE", N.audio(MINE), "+", "-", "COUNT", "200"),
    ("XREAD", "BLOCK", "500", "STREAMS", N.partials(MINE), N.live(MINE), "0-0", "0-0"),
    ("MULTI",),
    ("EXEC",),  # batches are all-or-nothing; each queued command is checked on its own
    ("DISCARD",),
    ("PING",),
]

MAY_NOT = [
    # another room's keys, including rooms whose names start with this one's
    *(("XADD", N.audio(f"{other}.x1"), "*", "f", "v") for other in NEIGHBOURS),
    *(("XREVRANGE", N.audio(f"{other}.x1"), "+", "-") for other in NEIGHBOURS),
    *(("XREAD", "STREAMS", N.partials(f"{other}.x1"), "0") for other in NEIGHBOURS),
    *(("XREAD", "STREAMS", N.live(f"{other}.x1"), "0") for other in NEIGHBOURS),
    *(("XADD", rooms.control_stream(N, other), "*", "f", "v") for other in NEIGHBOURS),
    ("XADD", N.audio("exam-3x1"), "*", "f", "v"),  # not the room's id form
    ("XADD", N.audio("legacy-enc"), "*", "f", "v"),
    # outcomes and the shared streams: only the gate forwards to ms:control
    ("XADD", N.control, "*", "type", "EncounterTranscribed"),
    ("XADD", N.control, "*", "type", "EncounterFailed"),
    ("XADD", N.control, "*", "type", "EncounterStarted"),
    ("XADD", N.turns, "*", "f", "v"),
    ("XADD", N.edited, "*", "f", "v"),
    ("XADD", N.dead, "*", "f", "v"),
    ("XREAD", "STREAMS", N.turns, "0"),
    ("XREAD", "STREAMS", N.edited, "0"),
    ("XREAD", "STREAMS", N.control, "0"),
    ("XREVRANGE", N.edited, "+", "-"),
    ("XRANGE", N.turns, "-", "+"),
    ("XREAD", "STREAMS", rooms.control_stream(N, ROOM), "0"),  # write-only for the room
    ("XREVRANGE", rooms.control_stream(N, ROOM), "+", "-"),
    ("XREADGROUP", "GROUP", "notes", "c", "STREAMS", N.control, ">"),
    # its own keys: only add and read back, never delete, trim or rewrite
    ("DEL", N.audio(MINE)),
    ("UNLINK", N.audio(MINE)),
    ("XDEL", N.audio(MINE), "1-0"),
    ("XTRIM", N.audio(MINE), "MAXLEN", "0"),
    ("RENAME", N.audio(MINE), N.audio("exam-30.x1")),
    ("EXPIRE", N.audio(MINE), "1"),
    ("XADD", N.partials(MINE), "*", "f", "v"),
    ("XADD", N.live(MINE), "*", "f", "v"),
    ("XGROUP", "CREATE", N.audio(MINE), "g", "0"),
    ("XINFO", "STREAM", N.audio(MINE)),
    ("XRANGE", N.audio(MINE), "-", "+"),
    ("COPY", N.audio(MINE), N.audio(f"{ROOM}.copy")),
    # the room registry, the gate's state, the other services' keys
    ("HSET", rooms.registry_key(N), ROOM, "x"),
    ("HGETALL", rooms.registry_key(N)),
    ("ZREM", rooms.open_key(N, ROOM), MINE),
    ("GET", N.key("bridge", "lease", MINE)),
    ("GETDEL", N.key("console", "signin-link", "h")),
    ("SET", N.key("api", "sse-ticket", "h"), "x"),
    # administration and anything destructive
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("INFO",),
    ("CONFIG", "GET", "*"),
    ("ACL", "LIST"),
    ("ACL", "SETUSER", USER, "+@all"),
    ("ACL", "DELUSER", "room-exam-30"),
    ("CLIENT", "LIST"),
    ("CLIENT", "KILL", "USER", "room-exam-30"),
    ("MONITOR",),
    ("EVAL", "return 0", "0"),
    ("EVALSHA", "0" * 40, "0"),
    ("FUNCTION", "FLUSH"),
    ("SCRIPT", "LOAD", "return 0"),
    ("SUBSCRIBE", "x"),
    ("PUBLISH", "x", "y"),
    ("DEBUG", "SLEEP", "0"),
    ("SHUTDOWN",),
    ("SAVE",),
    ("BGREWRITEAOF",),
    ("REPLICAOF", "NO", "ONE"),
    ("SELECT", "1"),
    ("TIME",),
]


@pytest.mark.parametrize("argv", MAY, ids=lambda a: " ".join(a[:2]))
def test_the_room_may_run(
    admin: sync_redis.Redis, room_password: str, argv: tuple[str, ...]
) -> None:
    assert _dryrun(admin, *argv) == "OK"


@pytest.mark.parametrize("argv", MAY_NOT, ids=lambda a: " ".join(a[:2]))
def test_the_room_may_not_run(
    admin: sync_redis.Redis, room_password: str, argv: tuple[str, ...]
) -> None:
    assert _dryrun(admin, *argv) != "OK"


async def test_capture_start_up_check_passes_for_the_room(
    acl_redis: AclRedis, room_password: str
) -> None:
    port = sync_redis.Redis.from_url(acl_redis.admin_url).connection_pool.connection_kwargs["port"]
    client = make_redis(f"redis://{USER}:{room_password}@127.0.0.1:{port}/0")
    try:
        assert await check_permissions(client, f"room:{ROOM}", N) == []
    finally:
        await client.aclose()


def test_a_logged_in_room_is_refused_others_and_cut_off_when_revoked(
    acl_redis: AclRedis, admin: sync_redis.Redis
) -> None:
    password = _add_room(admin, ROOM)
    _add_room(admin, "exam-30")
    port = admin.connection_pool.connection_kwargs["port"]
    room = sync_redis.Redis(host="127.0.0.1", port=port, username=USER, password=password)
    try:
        room.xadd(N.audio(MINE), {"f": "v"}, id="1-0")
        with pytest.raises(NoPermissionError):
            room.xadd(N.audio("exam-30.x1"), {"f": "v"})
        with pytest.raises(NoPermissionError):
            room.xadd(N.control, {"type": "EncounterFailed"})
        with pytest.raises(NoPermissionError):
            room.xrange(N.edited)
        admin.execute_command("ACL", "DELUSER", USER)
        # Redis closes a deleted user's connections: the next command fails at once.
        with pytest.raises((ConnectionError, AuthenticationError)):
            room.ping()
        with pytest.raises((ConnectionError, AuthenticationError)):
            sync_redis.Redis(host="127.0.0.1", port=port, username=USER, password=password).ping()
    finally:
        room.close()
        admin.execute_command("ACL", "DELUSER", "room-exam-30")
    assert admin.xlen(N.audio(MINE)) == 1
    assert admin.exists(N.audio("exam-30.x1"), N.control, N.edited) == 0


@pytest.mark.parametrize("name", ["exam-3", "a", "room-12", "x" * 32, "3"])
def test_room_names_allowed(name: str) -> None:
    assert rooms.check_room(name) == name
    assert rooms.room_of_user(rooms.user_of(name)) == name
    assert rooms.room_of_encounter(rooms.new_encounter_id(name)) == name


BAD_NAMES = [
    "", "Exam-3", "exam.3", "exam-3*", "exam?", "exam[1]", "ex\\am", "{clinic}", "exam-",
    "-exam", "exam 3", "x" * 33, "exam:3", "exam_3", "ëxam",
]  # fmt: skip


@pytest.mark.parametrize("name", BAD_NAMES)
def test_room_names_refused(name: str) -> None:
    with pytest.raises(rooms.RoomNameError, match="room name"):
        rooms.check_room(name)
    assert rooms.room_of_user(rooms.USER_PREFIX + name) is None


@pytest.mark.parametrize(
    ("encounter_id", "room"),
    [
        ("exam-3.20261206-a1", "exam-3"),
        ("exam-3-20261206-a1", None),  # the pre-rooms form: belongs to no room
        ("exam-3.", None),
        ("Exam.x", None),
        ("exam-3.a.b", None),
        ("exam-3.a*", None),
    ],
)
def test_room_of_encounter(encounter_id: str, room: str | None) -> None:
    assert rooms.room_of_encounter(encounter_id) == room


def test_no_room_pattern_matches_another_rooms_keys(admin: sync_redis.Redis) -> None:
    """Every pair of rooms whose names are prefixes of each other, through real ACLs."""
    names = ["e", "e-1", "e-10", "e1", "exam", "exam-3", "exam-30", "exam-3-b"]
    for room in names:
        _add_room(admin, room)
    try:
        for room in names:
            for other in names:
                reply = admin.execute_command(
                    "ACL", "DRYRUN", rooms.user_of(room),
                    "XADD", N.audio(rooms.new_encounter_id(other)), "*", "f", "v",
                )  # fmt: skip
                assert (reply == b"OK") == (room == other), (room, other)
    finally:
        for room in names:
            admin.execute_command("ACL", "DELUSER", rooms.user_of(room))
