"""A Redis restart loses nothing with the production configuration and ACLs.

A private redis-server runs deploy/redis.conf (AOF, `appendfsync everysec`) with the ACL
file rendered by the real deploy/redis-entrypoint.sh. Each service user writes the kinds of
commands its service runs (XADD, consumer groups and XACK, Lua scripts by EVAL and EVALSHA,
lease DELs), MULTI/EXEC transactions are replayed too, then Redis restarts (SIGTERM, and
SIGKILL once the AOF is fsynced): every key, stream entry and consumer-group position must
come back exactly, and deleted keys must stay deleted.

Redis 7.0-7.4 replays transactions and script effects from the AOF as the `default` user
(redis/redis#14541); with `default` limited to PING they were silently dropped. Needs the
redis-server binary (it skips otherwise; the test takes a few seconds).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.helpers.procs import REPO_ROOT, free_port, redis_server_binary

DEPLOY = REPO_ROOT / "deploy"
USERS = ("ADMIN", "CAPTURE", "BRIDGE", "EDITOR", "NOTES")
FSYNC_WAIT_S = 2.5  # appendfsync everysec: fsync within ~1 s, up to 2 s when the disk lags

# Scripts shaped like the services' own (lease acquire/release, publish-once, fenced turn).
ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1
end
return 0
"""
FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('XADD', KEYS[3], '*', 'type', 'EncounterTranscribed', 'data', ARGV[2])
redis.call('HSET', KEYS[2], 'status', 'done')
redis.call('SREM', KEYS[4], ARGV[3])
redis.call('DEL', KEYS[1])
return 1
"""
PUBLISH_TURN = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local seq = tonumber(redis.call('HGET', KEYS[2], 'next_seq') or '0')
redis.call('XADD', KEYS[3], '*', 'type', 'FinalTurn', 'data', ARGV[2])
redis.call('HSET', KEYS[2], 'next_seq', seq + 1)
return seq
"""
PUBLISH_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[2], '*', 'type', 'EditedTurn', 'data', ARGV[2])
redis.call('SET', KEYS[1], id, 'EX', tonumber(ARGV[1]))
return id
"""


class ProductionRedis:
    """redis-server with deploy/redis.conf and the ACL file the real entrypoint renders."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.passwords = {u: secrets.token_hex(16) for u in USERS}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            **{f"MEDSCRIBE_REDIS_PASSWORD_{u}": p for u, p in self.passwords.items()},
            "MEDSCRIBE_REDIS_ACL_TEMPLATE": str(DEPLOY / "users.acl"),
            "MEDSCRIBE_REDIS_ACL_FILE": str(self.workdir / "users.acl"),
        }
        # Only what must differ on a test machine is overridden: where it listens and writes
        # (`dir /data` is applied while the file is read, so that one line is left out).
        lines = (DEPLOY / "redis.conf").read_text().splitlines()
        assert sum(ln.startswith("dir ") for ln in lines) == 1
        conf = self.workdir / "redis.conf"
        conf.write_text("\n".join(ln for ln in lines if not ln.startswith("dir ")) + "\n")
        self.proc = subprocess.Popen(
            ["sh", str(DEPLOY / "redis-entrypoint.sh"), str(redis_server_binary()),
             str(conf), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.workdir), "--aclfile", str(self.workdir / "users.acl"),
             "--logfile", str(self.workdir / "redis.log")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"redis exited with {self.proc.returncode}: {err}")
            try:
                info = self.client("admin").info("persistence")
                if info.get("loading") == 0:
                    return
            except (redis.ConnectionError, redis.BusyLoadingError):
                pass
            time.sleep(0.05)
        raise RuntimeError("redis did not become ready:\n" + self.log())

    def stop(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(20)
        self.proc = None

    def client(self, user: str) -> redis.Redis:
        return redis.Redis(
            port=self.port, username=user, password=self.passwords[user.upper()],
            socket_timeout=5,
        )  # fmt: skip

    def raw(self, command: bytes) -> bytes:
        """One inline command on a fresh connection (no client library retries)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(command + b"\r\n")
            return s.recv(512)

    def log(self) -> str:
        path = self.workdir / "redis.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture
def prod_redis(tmp_path: Path) -> Iterator[ProductionRedis]:
    if redis_server_binary() is None:
        pytest.skip("redis-server binary not available")
    server = ProductionRedis(tmp_path)
    server.start()
    yield server
    if server.proc is not None:
        server.stop(signal.SIGTERM)


def _workload(r: ProductionRedis) -> set[str]:
    """Write as the services do; return the keys that were deleted on the way."""
    eid = "enc-1"
    lease, state, active = f"ms:bridge:lease:{eid}", f"ms:bridge:enc:{eid}", "ms:bridge:active"
    capture, bridge, editor, notes, admin = (
        r.client(u) for u in ("capture", "bridge", "editor", "notes", "admin")
    )
    for seq in range(20):  # the capture agent: audio frames and control events
        capture.xadd(f"ms:audio:{eid}", {"seq": seq, "pcm": os.urandom(320)})
    capture.xadd("ms:control", {"type": "EncounterStarted", "data": eid})
    capture.xadd("ms:control", {"type": "EncounterStopped", "data": eid})

    # A transaction (bridge registering an encounter; notes storing a ticket). The AOF
    # records no user: replay runs as `default` whoever wrote it, so admin writes these
    # while the services' own MULTI/EXEC permissions are settled in users.acl.
    tx = admin.pipeline(transaction=True)
    tx.hsetnx(state, "status", "active").hsetnx(state, "next_seq", 0).sadd(active, eid)
    tx.set("ms:api:ticket:t1", "x").xadd("ms:control", {"type": "Tx", "data": "1"})
    tx.execute()
    tx = admin.pipeline(transaction=True)
    tx.delete("ms:api:ticket:t1").set("ms:api:ticket:t2", "y").execute()

    # Only commands each service's users.acl line allows (checked against the narrowed
    # per-command lines too): scripts by EVAL for the bridge, EVALSHA for the editor.
    bridge.xgroup_create("ms:control", "bridge", id="0")
    got = bridge.xreadgroup("bridge", "b1", {"ms:control": ">"}, count=2)
    bridge.xack("ms:control", "bridge", *[i for i, _ in got[0][1]])  # two acked, one pending
    bridge.xread({f"ms:audio:{eid}": "0"}, count=5)
    assert bridge.eval(ACQUIRE, 1, lease, "tok", 3_600_000) == 1
    for i in range(6):
        bridge.eval(PUBLISH_TURN, 3, lease, state, "ms:turns", "tok", f"turn {i}")
    bridge.xadd(f"ms:partials:{eid}", {"type": "PartialTurn", "data": "p"})
    assert bridge.eval(FINISH, 4, lease, state, "ms:control", active, "tok", "t", eid) == 1
    bridge.set("ms:bridge:dead:x", "1")
    bridge.delete("ms:bridge:dead:x")

    editor.xgroup_create("ms:turns", "editor", id="0")
    sha = editor.script_load(PUBLISH_ONCE)
    for entry_id, _ in editor.xreadgroup("editor", "e1", {"ms:turns": ">"})[0][1]:
        key = f"ms:editor:pub:{entry_id.decode()}"
        assert editor.evalsha(sha, 2, key, "ms:turns:edited", 86_400, "edited") is not None
        editor.xack("ms:turns", "editor", entry_id)
    editor.set("ms:editor:ctx:x", "c", ex=86_400)

    notes.xgroup_create("ms:turns:edited", "notes", id="0")
    for entry_id, _ in notes.xreadgroup("notes", "n1", {"ms:turns:edited": ">"})[0][1][:4]:
        notes.xack("ms:turns:edited", "notes", entry_id)  # four acked, two pending
    notes.xadd("ms:dead", {"type": "Dead", "data": "d"})
    notes.set("ms:api:ticket:t3", "z", ex=900)
    assert notes.getdel("ms:api:ticket:t3") == b"z"  # a single-use sign-in ticket
    return {lease, "ms:bridge:dead:x", "ms:api:ticket:t1", "ms:api:ticket:t3"}


def _snapshot(admin: redis.Redis) -> dict[str, Any]:
    """Every key's type, value and expiry flag; streams with their groups and pending."""
    out: dict[str, Any] = {}
    for raw in sorted(admin.scan_iter(count=1000)):
        key = raw.decode()
        kind = admin.type(key).decode()
        value: Any
        if kind == "string":
            value = admin.get(key)
        elif kind == "hash":
            value = admin.hgetall(key)
        elif kind == "set":
            value = sorted(admin.smembers(key))
        elif kind == "list":
            value = admin.lrange(key, 0, -1)
        elif kind == "zset":
            value = admin.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            groups = [
                (g["name"], g["last-delivered-id"], g["pending"],
                 [(p["message_id"], p["consumer"]) for p in
                  admin.xpending_range(key, g["name"], "-", "+", 1000)])
                for g in admin.xinfo_groups(key)
            ]  # fmt: skip
            value = (admin.xrange(key), groups)
        else:
            raise AssertionError(f"unexpected type {kind}")
        out[key] = (kind, value, admin.ttl(key) > 0)
    return out


@pytest.mark.parametrize("how", ["sigterm", "sigkill_after_fsync"])
def test_restart_brings_back_every_acknowledged_write(
    prod_redis: ProductionRedis, how: str
) -> None:
    deleted = _workload(prod_redis)
    admin = prod_redis.client("admin")
    before = _snapshot(admin)
    assert len(before["ms:turns"][1][0]) == 6
    assert len(before["ms:turns:edited"][1][0]) == 6
    assert before["ms:bridge:enc:enc-1"][1][b"status"] == b"done"
    assert not deleted & set(before)
    if how == "sigkill_after_fsync":
        # A crash, not a shutdown: only what the AOF holds on disk comes back.
        time.sleep(FSYNC_WAIT_S)
        deadline = time.monotonic() + 10
        while admin.info("persistence")["aof_pending_bio_fsync"] != 0:
            assert time.monotonic() < deadline, "AOF fsync never completed"
            time.sleep(0.05)
        prod_redis.stop(signal.SIGKILL)
    else:
        prod_redis.stop(signal.SIGTERM)
    admin.close()

    prod_redis.start()
    after = _snapshot(prod_redis.client("admin"))
    lost, back = set(before) - set(after), set(after) - set(before)
    assert not lost, f"lost: {sorted(lost)}"
    assert not back, f"deleted but back: {sorted(back)}"
    assert after == before
    refused = [ln for ln in prod_redis.log().splitlines() if "AOF-loading-client" in ln]
    assert not refused, refused[:3]


def test_nobody_can_use_the_default_user(prod_redis: ProductionRedis) -> None:
    assert prod_redis.raw(b"PING").startswith(b"-NOAUTH")  # no implicit `default` login
    assert prod_redis.raw(b"XLEN ms:turns").startswith(b"-NOAUTH")
    for guess in ("x", "default", "redis", prod_redis.passwords["ADMIN"]):
        reply = prod_redis.raw(f"AUTH default {guess}".encode())
        assert reply.startswith(b"-WRONGPASS"), reply
    acl = (prod_redis.workdir / "users.acl").read_text()
    default = next(line for line in acl.splitlines() if line.startswith("user default "))
    assert "${" not in acl
    assert "+@all" in default
    assert (prod_redis.workdir / "users.acl").stat().st_mode & 0o077 == 0
    for password in prod_redis.passwords.values():  # hashes only, never a password
        assert password not in acl
    # Each start draws a fresh unknowable hash for `default`.
    prod_redis.stop(signal.SIGTERM)
    prod_redis.start()
    again = (prod_redis.workdir / "users.acl").read_text()
    assert next(ln for ln in again.splitlines() if ln.startswith("user default ")) != default


def test_health_check_script_needs_the_admin_password(prod_redis: ProductionRedis) -> None:
    script = str(DEPLOY / "redis-healthcheck.sh")
    env = {"PATH": os.environ["PATH"], "MEDSCRIBE_REDIS_PORT": str(prod_redis.port)}
    admin = prod_redis.passwords["ADMIN"]
    ok = subprocess.run(
        ["sh", script], env={**env, "MEDSCRIBE_REDIS_PASSWORD_ADMIN": admin},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "PONG"
    bad = subprocess.run(
        ["sh", script], env={**env, "MEDSCRIBE_REDIS_PASSWORD_ADMIN": "wrong"},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "not healthy" in bad.stderr
    assert "wrong" not in bad.stderr + bad.stdout


async def test_rooms_outlive_a_restart_and_revocation_too(prod_redis: ProductionRedis) -> None:
    """Issue 19: `medscribe notes room add` saves the room's user into the ACL file, and the
    entrypoint keeps it (only room users) when it renders the file again at the next start."""
    from services.notes import room_admin
    from shared.contracts import StreamNames
    from shared.streams import make_redis

    admin_url = f"redis://admin:{prod_redis.passwords['ADMIN']}@127.0.0.1:{prod_redis.port}/0"
    names = StreamNames("ms:")

    async def admin_do(work: Any) -> Any:
        client = make_redis(admin_url)
        try:
            return await work(client)
        finally:
            await client.aclose()

    _, kept = await admin_do(lambda c: room_admin.add(c, names, "exam-1"))
    _, gone = await admin_do(lambda c: room_admin.add(c, names, "exam-2"))
    await admin_do(lambda c: room_admin.revoke(c, names, "exam-2"))
    with (prod_redis.workdir / "users.acl").open("a") as acl:  # a forged service line
        acl.write("user capture on nopass ~* +@all\n")
    prod_redis.stop(signal.SIGTERM)
    prod_redis.start()

    def room(user: str, password: str) -> redis.Redis:
        return redis.Redis(port=prod_redis.port, username=user, password=password)

    ok = room("room-exam-1", kept)
    assert ok.xadd("ms:audio:exam-1.x1", {"f": "v"}) is not None
    with pytest.raises(redis.exceptions.NoPermissionError):
        ok.xadd("ms:control", {"f": "v"})
    ok.close()
    with pytest.raises(redis.exceptions.AuthenticationError):
        room("room-exam-2", gone).ping()
    acl = (prod_redis.workdir / "users.acl").read_text()
    assert "nopass" not in acl  # service users come from the template only
    assert [ln.split()[1] for ln in acl.splitlines() if ln.startswith("user room-")] == [
        "room-exam-1"
    ]
