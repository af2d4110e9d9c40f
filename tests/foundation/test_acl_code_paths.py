"""The code paths issue 27 found broken under the production ACLs, run as each service's
own Redis user: the editor's rate limiter (TIME in its script), a NOPERM in a consumer's
handler, `medscribe dlq replay`, and the start-up permission check of a service."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
from pathlib import Path

import pytest
import redis as sync_redis
from redis.exceptions import NoPermissionError, ResponseError

from services.capture.live_view import make_view
from services.capture.watcher import watch_encounter
from shared.checks import _timed, check_redis
from shared.contracts import StreamNames
from shared.dlq import replay
from shared.rate_limit import RateLimiter
from shared.redis_acl import EXIT_NO_PERMISSION, permission_failure
from shared.streams import ConsumerGroupReader, Delivery, dead_entry, make_redis
from simulators.codec import write_wav
from tests.helpers.acl import AclRedis
from tests.helpers.procs import medscribe_cmd, subprocess_env

N = StreamNames("ms:")


@pytest.fixture
def admin(acl_redis: AclRedis) -> sync_redis.Redis:
    client = sync_redis.Redis.from_url(acl_redis.admin_url)
    yield client
    client.close()


@pytest.mark.parametrize("user", ["editor", "notes"])  # edits and SOAP calls share it
async def test_rate_limiter_admits_and_limits_as_each_caller(
    acl_redis: AclRedis, user: str
) -> None:
    client = make_redis(acl_redis.url(user))
    try:
        limiter = RateLimiter(client, N.llm_rate_prefix + user, limit=2, burst=1)
        waits = [await limiter.try_acquire("m") for _ in range(3)]
    finally:
        await client.aclose()
    assert waits[:1] == [0.0]
    assert 0 < waits[2] <= 61


def _dead(admin: sync_redis.Redis, stream: str, text: bytes) -> str:
    fields = {b"v": b"1", b"type": b"X", b"data": text}
    entry = dead_entry(stream, "g", "1-1", fields, "max_deliveries_exceeded", 6)
    return admin.xadd(N.dead, entry).decode()


async def test_replay_as_notes_is_atomic_and_never_doubles(
    acl_redis: AclRedis, admin: sync_redis.Redis
) -> None:
    ok_id = _dead(admin, N.control, b"{}")
    refused_id = _dead(admin, N.turns, b"turn text")
    client = make_redis(acl_redis.url("notes"))
    try:
        new_id = await replay(client, N.dead, ok_id)
        with pytest.raises(KeyError):  # already replayed: not put back twice
            await replay(client, N.dead, ok_id)
        for _ in range(2):  # notes may not write ms:turns: refused, and nothing changes
            with pytest.raises(ResponseError) as err:
                await replay(client, N.dead, refused_id)
            line = permission_failure(err.value, acl_redis.url("notes"))
            assert line == (
                "Redis user 'notes' may not run XADD on these keys (see deploy/users.acl)"
            )
    finally:
        await client.aclose()
    assert [r[0].decode() for r in admin.xrange(N.control)] == [new_id]
    assert admin.xrange(N.control)[0][1] == {b"v": b"1", b"type": b"X", b"data": b"{}"}
    assert admin.exists(N.turns) == 0
    assert [r[0].decode() for r in admin.xrange(N.dead)] == [refused_id]


def test_dlq_replay_command_says_one_line_and_changes_nothing(
    acl_redis: AclRedis, admin: sync_redis.Redis
) -> None:
    dead_id = _dead(admin, N.turns, b"turn text")
    env = subprocess_env(MEDSCRIBE_REDIS_URL=acl_redis.url("notes"), MEDSCRIBE_STREAM_PREFIX="ms:")
    done = subprocess.run(
        [*medscribe_cmd(), "dlq", "replay", dead_id], env=env, capture_output=True, timeout=60
    )
    err = done.stderr.decode()
    assert done.returncode == EXIT_NO_PERMISSION, err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert "Redis user 'notes' may not run XADD" in err
    assert "nothing was changed" in err
    assert "turn text" not in err
    assert admin.exists(N.turns) == 0
    assert admin.xlen(N.dead) == 1


async def test_a_noperm_in_a_handler_leaves_the_entry_pending_not_dead(
    acl_redis: AclRedis, admin: sync_redis.Redis
) -> None:
    """What crashed the bridge once per visit: retried 5x, dead-lettered, traceback."""
    admin.xadd(N.control, {b"v": b"1", b"type": b"X", b"data": b"{}"})
    client = make_redis(acl_redis.url("bridge"))

    async def handler(d: Delivery[dict[bytes, bytes]]) -> None:
        await client.xadd(N.edited, {"data": "secret text"})  # not the bridge's stream

    reader: ConsumerGroupReader[dict[bytes, bytes]] = ConsumerGroupReader(
        client, stream=N.control, group="bridge", consumer="c1", decoder=dict,
        handler=handler, dead_stream=N.dead, max_deliveries=1, block_ms=10,
    )  # fmt: skip
    try:
        with pytest.raises(ResponseError) as err:
            await asyncio.wait_for(reader.run(), 30)
    finally:
        await client.aclose()
    line = permission_failure(err.value, acl_redis.url("bridge"))
    assert line == "Redis user 'bridge' may not run XADD on these keys (see deploy/users.acl)"
    assert admin.xpending(N.control, "bridge")["pending"] == 1
    assert admin.exists(N.dead) == 0


def test_pipeline_noperm_line_names_the_command_not_its_values() -> None:
    err = NoPermissionError(
        "Command # 1 (XADD ms:turns * data secret) of pipeline caused error: "
        "this user has no permissions to access one of the keys used as arguments"
    )
    line = permission_failure(err, "redis://editor:pw@h:6379/0")
    assert line == "Redis user 'editor' may not run XADD on these keys (see deploy/users.acl)"


WRONG_USER = [  # (service, command line, whose user it is given, a command it then lacks)
    ("bridge", ["stt-bridge"], "capture", "XREADGROUP"),
    ("editor", ["editor"], "notes", "XCLAIM"),
    ("notes", ["notes", "run", "--no-api"], "editor", "GETDEL"),
    ("capture", ["capture", "--file", "{wav}", "--room", "r1", "--spool-dir", "{spool}"],
     "notes", "XADD"),
]  # fmt: skip


@pytest.mark.parametrize(("service", "argv", "user", "lacks"), WRONG_USER)
def test_a_service_with_the_wrong_user_stops_at_once_with_one_line(
    acl_redis: AclRedis, tmp_path: Path, service: str, argv: list[str], user: str, lacks: str
) -> None:
    wav = tmp_path / "v.wav"
    write_wav(wav, b"\0\0" * 16000)
    (tmp_path / "capture.env").write_text("# none\n")
    env = subprocess_env(
        MEDSCRIBE_REDIS_URL=acl_redis.url(user),
        MEDSCRIBE_STREAM_PREFIX="ms:",
        ASSEMBLYAI_API_KEY="sim-key",
        MEDSCRIBE_STREAMING_URL="ws://127.0.0.1:9/v3/ws",
        MEDSCRIBE_LLM_GATEWAY_URL="http://127.0.0.1:9",
        MEDSCRIBE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}",
        MEDSCRIBE_HEALTH_PORT="0",
        MEDSCRIBE_CONFIG=str(tmp_path / "capture.env"),
    )
    args = [a.format(wav=wav, spool=tmp_path / "spool") for a in argv]
    done = subprocess.run(
        [*medscribe_cmd(), *args], env=env, capture_output=True, timeout=60, cwd=tmp_path
    )
    err = done.stderr.decode()
    assert done.returncode == EXIT_NO_PERMISSION, err
    lines = [x for x in err.splitlines() if "Redis user" in x]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert f"Redis user '{user}' may not run what {service} needs: " in lines[0]
    assert lacks in lines[0]


async def test_replay_checks_both_writes_before_making_either(
    acl_redis: AclRedis, admin: sync_redis.Redis
) -> None:
    """A user that may run the script but not XDEL: the entry is not re-added."""
    dead_id = _dead(admin, N.control, b"{}")
    admin.execute_command("ACL", "SETUSER", "half", "on", ">pw", "+eval", "+xrange", "+xadd", "~*")
    url = acl_redis.url("notes").replace(acl_redis.url("notes").split("@")[0], "redis://half:pw")
    client = make_redis(url)
    try:
        with pytest.raises(NoPermissionError):
            await replay(client, N.dead, dead_id)
    finally:
        await client.aclose()
        admin.execute_command("ACL", "DELUSER", "half")
    assert admin.exists(N.control) == 0
    assert [r[0].decode() for r in admin.xrange(N.dead)] == [dead_id]


async def test_capture_live_view_stops_asking_when_its_user_may_not_read(
    acl_redis: AclRedis, admin: sync_redis.Redis
) -> None:
    """A room machine cannot read transcripts: its view stops asking (not once a second)."""
    client = make_redis(acl_redis.url("capture"))
    view = make_view(io.StringIO(), show_text=False)
    try:
        await asyncio.wait_for(watch_encounter(client, N, "e1", view, asyncio.Event()), 10)
    finally:
        await client.aclose()
    denied = admin.acl_log()
    assert {e["username"] for e in denied} == {"capture"}
    assert sum(int(e["count"]) for e in denied) <= 2


@pytest.mark.parametrize("user", ["capture", "bridge", "editor", "notes"])
async def test_medscribe_check_works_with_each_service_user(acl_redis: AclRedis, user: str) -> None:
    """INFO is refused to every service user; the check must not report a false FAIL."""
    result = await _timed("redis", check_redis(acl_redis.url(user)))
    assert result.ok, result.detail
    assert re.fullmatch(rf"redis \d+\.\d+\.\d+, user {user} may run all {user} needs",
                        result.detail)  # fmt: skip


async def test_medscribe_check_says_what_the_user_lacks(
    acl_redis: AclRedis, admin: sync_redis.Redis
) -> None:
    admin.execute_command("ACL", "SETUSER", "editor", "-time")
    try:
        result = await _timed("redis", check_redis(acl_redis.url("editor")))
    finally:
        admin.execute_command("ACL", "LOAD")  # back to the production file
    assert not result.ok
    assert result.detail == (
        "Redis user 'editor' may not run what editor needs: TIME (command) (see deploy/users.acl)"
    )
