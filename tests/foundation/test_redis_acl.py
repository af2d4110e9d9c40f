"""deploy/users.acl against what the code runs (shared/redis_acl.py), on a real Redis loaded
with the production ACL file: every service may run all it uses, and nothing it must not."""

from __future__ import annotations

import re
import socket

import pytest
import redis as sync_redis

from shared.contracts import StreamNames
from shared.redis_acl import SERVICES, require_permissions, uses
from shared.streams import make_redis
from tests.helpers.acl import ACL_TEMPLATE, AclRedis

N = StreamNames("ms:")


def _dryrun(admin: sync_redis.Redis, user: str, *argv: str) -> str:
    reply = admin.execute_command("ACL", "DRYRUN", user, *argv)
    return reply.decode() if isinstance(reply, bytes) else str(reply)


@pytest.fixture
def admin(acl_redis: AclRedis) -> sync_redis.Redis:
    client = sync_redis.Redis.from_url(acl_redis.admin_url)
    yield client
    client.close()


@pytest.mark.parametrize("service", SERVICES)
def test_every_command_the_service_runs_is_allowed(admin: sync_redis.Redis, service: str) -> None:
    refused = {
        " ".join(u.argv[:3]) + f"  [{u.where}]": reply
        for u in uses(service, N)
        if (reply := _dryrun(admin, service, *u.argv)) != "OK"
    }
    assert not refused, refused


def _granted(user: str) -> set[str]:
    line = next(x for x in ACL_TEMPLATE.read_text().splitlines() if x.startswith(f"user {user} "))
    tokens = [t.strip("()") for t in line.split()]
    return {t[1:].upper() for t in tokens if t.startswith("+") and not t.startswith("+@")}


@pytest.mark.parametrize("service", SERVICES)
def test_the_acl_grants_no_command_the_service_does_not_run(service: str) -> None:
    used = set()
    for u in uses(service, N):
        name = u.argv[0]
        with_sub = name in ("XGROUP", "XINFO", "SCRIPT", "OBJECT")
        used.add(f"{name}|{u.argv[1]}".upper() if with_sub else name)
    used |= {"MULTI", "DISCARD"}  # the start-up permission check queues in MULTI, then DISCARDs
    assert _granted(service) - used == set()


NEVER = [
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CONFIG", "GET", "*"),
    ("CONFIG", "SET", "save", ""),
    ("ACL", "LIST"),
    ("ACL", "SETUSER", "x"),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("DEBUG", "SLEEP", "0"),
    ("SHUTDOWN",),
    ("MODULE", "LIST"),
    ("SCRIPT", "FLUSH"),
    ("CLIENT", "LIST"),
    ("CLIENT", "KILL", "ID", "1"),
    ("MONITOR",),
    ("REPLICAOF", "NO", "ONE"),
    ("SAVE",),
    ("BGREWRITEAOF",),
    ("FUNCTION", "FLUSH"),
    ("SUBSCRIBE", "x"),
    ("PUBLISH", "x", "y"),
    ("MIGRATE", "h", "1", "k", "0", "1"),
    ("DEL", "ms:turns"),
    ("UNLINK", "ms:control"),
    ("RENAME", "ms:turns", "x"),
    ("SET", "ms:turns", "x"),
    ("SET", "ms:control", "x"),
    ("SET", "ms:turns:edited", "x"),
    ("XDEL", "ms:control", "1-1"),
    ("XDEL", "ms:turns", "1-1"),
    ("EXPIRE", "ms:control", "1"),
    ("XGROUP", "DESTROY", "ms:control", "notes"),
    ("XTRIM", "ms:turns", "MAXLEN", "0"),
]


# notes is the housekeeper (issue 18): it trims the shared streams behind every consumer
# group and finds a released visit's variable-named marks with SCAN (shared/trim.py,
# shared/release.py). Nobody else may.
HOUSEKEEPING = {
    "notes": {
        ("SCAN", "0"),
        ("XDEL", "ms:control", "1-1"),
        ("XDEL", "ms:turns", "1-1"),
        ("XTRIM", "ms:turns", "MAXLEN", "0"),
    }
}


@pytest.mark.parametrize("user", SERVICES)
def test_no_service_user_can_administer_or_destroy(admin: sync_redis.Redis, user: str) -> None:
    never = [argv for argv in NEVER if argv not in HOUSEKEEPING.get(user, set())]
    allowed = [argv for argv in never if _dryrun(admin, user, *argv) == "OK"]
    assert allowed == []


# (user, command) pairs a service has no business with: other rooms' and other stages' data.
FORBIDDEN = [
    ("capture", ("XRANGE", N.turns, "-", "+")),
    ("capture", ("XREAD", "STREAMS", N.edited, "0")),
    ("capture", ("XREAD", "STREAMS", N.partials("e1"), "0")),
    ("capture", ("XRANGE", N.control, "-", "+")),
    ("capture", ("XRANGE", N.dead, "-", "+")),
    ("capture", ("XADD", N.turns, "*", "f", "v")),
    ("capture", ("XADD", N.edited, "*", "f", "v")),
    ("capture", ("GET", N.key("api", "sse-ticket", "h"))),
    ("capture", ("GET", N.key("bridge", "lease", "e1"))),
    ("capture", ("XREADGROUP", "GROUP", "notes", "c", "STREAMS", N.control, ">")),
    ("bridge", ("XRANGE", N.edited, "-", "+")),
    ("bridge", ("XADD", N.audio("e1"), "*", "f", "v")),
    ("bridge", ("XRANGE", N.dead, "-", "+")),
    ("bridge", ("GETDEL", N.key("console", "signin-link", "h"))),
    ("bridge", ("GET", N.key("editor", "r"))),
    ("bridge", ("TIME",)),
    ("editor", ("XRANGE", N.audio("e1"), "-", "+")),
    ("editor", ("XRANGE", N.partials("e1"), "-", "+")),
    ("editor", ("XRANGE", N.edited, "-", "+")),
    ("editor", ("GET", N.key("bridge", "lease", "e1"))),
    ("editor", ("GETDEL", N.key("api", "sse-ticket", "h"))),
    ("editor", ("EVAL", "return 0", "0")),
    # notes reads audio for the FLAC archive (XRANGE) and deletes it once durable; only
    # the capture agent writes it.
    ("notes", ("XADD", N.audio("e1"), "*", "f", "v")),
    ("notes", ("XADD", N.turns, "*", "f", "v")),
    ("notes", ("XADD", N.partials("e1"), "*", "f", "v")),
    ("notes", ("SET", N.key("bridge", "lease", "e1"), "x")),
    ("notes", ("GET", N.key("editor", "r"))),
]


def test_nobody_can_log_in_as_default(acl_redis: AclRedis) -> None:
    """`default` keeps every permission (AOF replay runs as `default` and must never be
    refused: tests/stack/test_redis_restart.py) behind a password nobody knows."""
    assert acl_redis.server is not None
    for command in (b"PING", b"GET ms:x", b"XRANGE ms:control - +"):
        with socket.create_connection(("127.0.0.1", acl_redis.server.port), timeout=5) as s:
            s.sendall(command + b"\r\n")
            assert s.recv(64).startswith(b"-NOAUTH"), command
    with socket.create_connection(("127.0.0.1", acl_redis.server.port), timeout=5) as s:
        s.sendall(b"AUTH default default\r\n")
        assert s.recv(64).startswith(b"-WRONGPASS")


@pytest.mark.parametrize(("user", "argv"), FORBIDDEN)
def test_a_service_cannot_touch_what_is_not_its_business(
    admin: sync_redis.Redis, user: str, argv: tuple[str, ...]
) -> None:
    assert _dryrun(admin, user, *argv) != "OK"


@pytest.mark.parametrize("service", SERVICES)
async def test_start_up_check_passes_with_the_production_user(
    acl_redis: AclRedis, service: str
) -> None:
    client = make_redis(acl_redis.url(service))
    try:
        assert await require_permissions(client, service, N, acl_redis.url(service)) is None
    finally:
        await client.aclose()
    admin = sync_redis.Redis.from_url(acl_redis.admin_url)
    try:  # the check queued and discarded: nothing was written
        assert admin.dbsize() == 0
    finally:
        admin.close()


async def test_start_up_check_names_the_user_and_each_missing_command(
    acl_redis: AclRedis, admin: sync_redis.Redis
) -> None:
    """The editor's ACL line of before issue 27 (no TIME, MULTI or EXEC) is caught at once."""
    line = next(x for x in ACL_TEMPLATE.read_text().splitlines() if x.startswith("user editor "))
    rules = [t for t in re.findall(r"\([^)]*\)|\S+", line)[2:] if not t.startswith("#")]
    rules = [r for r in rules if r not in ("+time", "+exec", "+zrange")]
    assert any(r.startswith("(") and " " in r for r in rules)  # selectors kept whole
    rules = [r.replace("%W~ms:turns:edited", "%W~ms:other") for r in rules]
    admin.execute_command("ACL", "SETUSER", "editor-old", "on", ">pw", *rules)
    url = acl_redis.url("admin").replace("admin:", "editor-old:").split("@")[1]
    url = f"redis://editor-old:pw@{url}"
    client = make_redis(url)
    try:
        line_out = await require_permissions(client, "editor", N, url)
    finally:
        await client.aclose()
        admin.execute_command("ACL", "DELUSER", "editor-old")
    assert line_out is not None
    assert "\n" not in line_out
    assert line_out.startswith("Redis user 'editor-old' may not run what editor needs: ")
    for name in ("TIME (command)", "EXEC (command)", "ZRANGE (command)", "XADD (on its keys)"):
        assert name in line_out
    assert "MULTI" not in line_out
    assert re.search(r"ms:", line_out) is None  # no keys in the message


# --- the manifest against the code: every Redis call a service's code makes is listed ----

PACKAGES = {
    "capture": ["services/capture"],
    "bridge": ["services/stt_bridge"],
    "editor": ["services/editor"],
    "notes": ["services/notes", "shared/dlq.py", "shared/release.py", "shared/trim.py"],
}
# redis-py methods whose command is not simply the method name in capitals
METHOD_COMMANDS = {
    "delete": {"DEL"},
    "register_script": {"EVALSHA", "SCRIPT|LOAD"},
    "xgroup_create": {"XGROUP|CREATE"},
    "xinfo_groups": {"XINFO|GROUPS"},
    "xpending_range": {"XPENDING"},
    "scan_iter": {"SCAN"},
    "object": {"OBJECT"},
}
# Called by the code but refused on purpose (the code copes with the refusal, tested).
REFUSED_ON_PURPOSE = {
    # the room's live view asks for transcript text; a room machine holds no PHI (README)
    "capture": {"XREAD"},
}
NOT_COMMANDS = {"pipeline", "execute", "aclose", "close", "connection_pool"}
LUA_CALL = re.compile(r"redis\.call\('([A-Za-z]+)'")


def _code_commands(paths: list[str]) -> dict[str, set[str]]:
    """Redis commands the code under ``paths`` sends: ``<x>redis.<method>(`` and
    ``pipe.<method>(`` calls, and ``redis.call('X'`` in Lua scripts; command -> files."""
    import ast

    import redis.asyncio as aioredis

    methods = {m for m in dir(aioredis.Redis) if not m.startswith("_")} - NOT_COMMANDS
    root = ACL_TEMPLATE.parents[1]
    files = [p for rel in paths for p in ([root / rel] if rel.endswith(".py")
             else sorted((root / rel).rglob("*.py")))]  # fmt: skip
    found: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text()
        rel = str(path.relative_to(root))
        for name in LUA_CALL.findall(text):
            found.setdefault(name.upper(), set()).add(rel)
        for node in ast.walk(ast.parse(text)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = ast.unparse(node.func.value)
            method = node.func.attr
            if method in methods and receiver.split(".")[-1] in ("redis", "pipe"):
                for cmd in METHOD_COMMANDS.get(method, {method.upper()}):
                    found.setdefault(cmd, set()).add(rel)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_redis_call_in_the_code_is_in_the_manifest(service: str) -> None:
    listed = set()
    # the capture agent logs in as `capture` or as a room's own user (issue 19)
    runs_as = [service, "room:exam-1"] if service == "capture" else [service]
    for u in (u for who in runs_as for u in uses(who, N)):
        name = u.argv[0]
        listed.add(f"{name}|{u.argv[1]}".upper() if name in ("XGROUP", "XINFO", "SCRIPT") else name)
    found = _code_commands(PACKAGES[service])
    assert found, "the scan found no Redis calls at all: it is broken"
    listed |= REFUSED_ON_PURPOSE.get(service, set())
    missing = {cmd: sorted(files) for cmd, files in found.items() if cmd not in listed}
    assert missing == {}, "add these to shared/redis_acl.py and deploy/users.acl"
