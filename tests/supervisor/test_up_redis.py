"""Issue 19 item 3: `medscribe up`'s own redis-server has the compose deployment's security
model: one ACL user per service (deploy/users.acl), rooms' own users that outlive a
restart, no catch-all password, nobody served without logging in, bound to localhost."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from medscribe.supervisor import redis_users, stack
from medscribe.supervisor.supervisor import FileSink, Supervisor
from services.notes import room_admin
from shared.contracts import StreamNames
from shared.redis_acl import SERVICES, check_permissions
from shared.streams import make_redis
from tests.helpers.procs import REPO_ROOT, free_port, redis_server_binary

N = StreamNames("ms:")
ANONYMOUS = [b"FLUSHALL", b"KEYS *", b"XADD ms:control * f v", b"XRANGE ms:turns - +",
             b"GET x", b"CONFIG GET *", b"ACL LIST", b"INFO", b"EVAL \"return 1\" 0"]  # fmt: skip


def test_the_packaged_acl_template_is_the_deployments() -> None:
    packaged = redis_users.TEMPLATE.read_text()
    assert packaged == (REPO_ROOT / "deploy" / "users.acl").read_text(), (
        "copy deploy/users.acl to medscribe/supervisor/users.acl"
    )


def _raw(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(command + b"\r\n")
        return s.recv(512)


async def _start(tmp_path: Path, port: int) -> tuple[Supervisor, stack.RedisChoice]:
    sup = Supervisor(FileSink(tmp_path / "logs"))
    choice = await stack.provide_redis(
        sup, f"redis://127.0.0.1:{port}/0", tmp_path / "redis", persistent=True, port=port,
        allow_bundled=False, acl=True,
    )  # fmt: skip
    return sup, choice


async def test_up_redis_has_per_service_users_and_serves_nobody_else(tmp_path: Path) -> None:
    if redis_server_binary() is None:
        pytest.skip("redis-server binary not available")
    port = free_port()
    sup, choice = await _start(tmp_path, port)
    try:
        assert choice.users is not None
        for command in [b"PING", *ANONYMOUS]:  # not even PING without logging in
            assert _raw(port, command).startswith(b"-NOAUTH"), command
        for guess in (b"", b"default", b"redis", choice.users.passwords["admin"].encode()):
            assert _raw(port, b"AUTH default " + (guess or b"x")).startswith(b"-WRONGPASS")
        for service in SERVICES:
            client = make_redis(choice.url_for(service))
            try:
                assert await client.ping()
                assert await check_permissions(client, service, N) == []
                with pytest.raises(redis.exceptions.NoPermissionError):
                    await client.flushall()
            finally:
                await client.aclose()
        admin = redis.Redis.from_url(choice.url)
        assert admin.config_get("bind")["bind"] == "127.0.0.1"
        assert admin.config_get("requirepass")["requirepass"] == ""
        admin.close()
        secrets_file = tmp_path / "redis" / "passwords.json"
        assert secrets_file.stat().st_mode & 0o077 == 0
        assert (tmp_path / "redis" / "users.acl").stat().st_mode & 0o077 == 0

        admin_async = make_redis(choice.url)
        try:
            _, room_password = await room_admin.add(admin_async, N, "exam-1")
        finally:
            await admin_async.aclose()
    finally:
        await sup.stop()

    # A new `up`: same passwords, the room is still there, `default` got a new hash.
    sup, again = await _start(tmp_path, port)
    try:
        assert again.users is not None
        assert again.users.passwords == choice.users.passwords
        room = redis.Redis(port=port, username="room-exam-1", password=room_password)
        assert room.xadd("ms:audio:exam-1.x1", {"f": "v"})
        with pytest.raises(redis.exceptions.NoPermissionError):
            room.xadd("ms:control", {"f": "v"})
        room.close()
    finally:
        await sup.stop()
