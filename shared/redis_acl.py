"""What each service runs in Redis, and a start-up check that its Redis user may run it.

``uses(service, names)`` lists every command a service sends (including the commands its
Lua scripts call), each with representative keys. It is the source ``deploy/users.acl`` is
written from and what ``tests/foundation/test_redis_acl.py`` checks that file against with
``ACL DRYRUN``; when code starts sending a new command or touching a new key, add it here
and to the ACL line, or the test and the service's start-up check fail.

The start-up check (``check_permissions``) needs no admin rights: it queues each command
inside ``MULTI`` and then ``DISCARD``s. Redis checks ACLs when a command is queued, so a
refusal shows up at once and nothing is ever executed.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError, RedisError, ResponseError

from shared import rooms
from shared.contracts import StreamNames
from shared.errors import MedscribeError

SERVICES = ("capture", "bridge", "editor", "notes")
SAMPLE_ENCOUNTER = "enc-acl-probe"

Argv = tuple[str, ...]


@dataclass(frozen=True)
class Use:
    """One command as a service sends it, and where in the code."""

    argv: Argv
    where: str


def _consumer_group(stream: str, group: str, dead: str, where: str) -> list[Use]:
    """shared/streams.py ConsumerGroupReader on ``stream``."""
    return [
        Use(("XGROUP", "CREATE", stream, group, "0", "MKSTREAM"), where),
        Use(
            (
                "XREADGROUP",
                "GROUP",
                group,
                "c",
                "COUNT",
                "16",
                "BLOCK",
                "1000",
                "STREAMS",
                stream,
                ">",
            ),
            where,
        ),
        Use(("XACK", stream, group, "0-1"), where),
        Use(("XAUTOCLAIM", stream, group, "c", "30000", "0-0", "COUNT", "16"), where),
        Use(("XPENDING", stream, group, "0-1", "0-1", "1"), where),
        # dead_letter(): XADD to the dead-letter stream and XACK in one transaction
        Use(("MULTI",), where),
        Use(("XADD", dead, "*", "f", "v"), where),
        Use(("EXEC",), where),
    ]


def _capture(n: StreamNames) -> list[Use]:
    audio = n.audio(SAMPLE_ENCOUNTER)
    return [
        Use(("PING",), "services/capture/checks.py"),
        Use(("XADD", audio, "1-1", "f", "v"), "services/capture/publisher.py _send"),
        Use(("XADD", audio, "*", "f", "v"), "services/capture/publisher.py _add_behind_foreign"),
        Use(("XADD", n.control, "*", "f", "v"), "services/capture/publisher.py _send"),
        Use(("XREVRANGE", audio, "+", "-", "COUNT", "1"), "services/capture/publisher.py"),
        Use(("MULTI",), "services/capture/publisher.py _send (all of a batch or none)"),
        Use(("EXEC",), "services/capture/publisher.py _send"),
        Use(("WAIT", "1", "500"), "services/capture/publisher.py _send_stop_replicated"),
    ]


def _bridge(n: StreamNames) -> list[Use]:
    e = SAMPLE_ENCOUNTER
    enc, sessions = n.key("bridge", "enc", e), n.key("bridge", "sessions", e)
    lease, active = n.key("bridge", "lease", e), n.key("bridge", "active")
    replicas, mark = n.key("bridge", "replicas"), n.key("bridge", "dead", e)
    state = "services/stt_bridge/state.py"
    return [
        *_consumer_group(n.control, "bridge", n.dead, "services/stt_bridge/service.py"),
        Use(("PING",), "services/stt_bridge/service.py"),
        Use(
            ("XREAD", "COUNT", "10", "BLOCK", "100", "STREAMS", n.audio(e), "0-0"),
            "services/stt_bridge/audio_hub.py, audio.py",
        ),
        Use(("SET", mark, "1", "NX", "EX", "60"), "services/stt_bridge/audio.py"),
        Use(("XADD", n.dead, "*", "f", "v"), "services/stt_bridge/audio.py"),
        Use(
            ("XADD", n.partials(e), "MAXLEN", "~", "200", "*", "f", "v"),
            "services/stt_bridge/partials.py, publish.py",
        ),
        # EncounterStarted / EncounterStopped: transactions (state.py record_started/stopped)
        Use(("HGET", enc, "status"), state),
        Use(("HSETNX", enc, "status", "x"), state),
        Use(("PERSIST", enc), state),
        Use(("SADD", active, e), state),
        Use(("HSET", enc, "stop_seq", "1"), state),
        Use(("HEXISTS", enc, "started"), state),
        Use(("EXPIRE", enc, "60"), state),
        Use(("SMEMBERS", active), state),
        Use(("HGETALL", enc), state),
        Use(("LRANGE", sessions, "0", "-1"), state),
        Use(("EVAL", "return 0", "5", lease, enc, n.turns, active, sessions), state),
        # ... and what the state and lease scripts call
        Use(("GET", lease), "services/stt_bridge/state.py _FENCE, lease.py"),
        Use(("WAIT", "1", "500"), "shared/streams.py eval_replicated (Redis Cluster only)"),
        Use(("HDEL", enc, "sess_id"), state),
        Use(("RPUSH", sessions, "x"), state),
        Use(("XADD", n.turns, "*", "f", "v"), "services/stt_bridge/state.py _PUBLISH_TURN"),
        Use(("XADD", n.control, "*", "f", "v"), "services/stt_bridge/state.py _FINISH"),
        Use(("SREM", active, e), "services/stt_bridge/state.py _FINISH, service.py"),
        Use(("DEL", lease), "services/stt_bridge/state.py _FINISH, lease.py _RELEASE"),
        Use(("EXPIRE", sessions, "60"), "services/stt_bridge/state.py _FINISH"),
        Use(("SET", lease, "t", "PX", "1000"), "services/stt_bridge/lease.py _ACQUIRE"),
        Use(("PEXPIRE", lease, "1000"), "services/stt_bridge/lease.py"),
        # replica registry and capacity (service.py)
        Use(("SCARD", active), "services/stt_bridge/service.py"),
        Use(("EXISTS", lease), "services/stt_bridge/service.py"),
        Use(("ZADD", replicas, "1", "t"), "services/stt_bridge/service.py"),
        Use(("ZREMRANGEBYSCORE", replicas, "0", "1"), "services/stt_bridge/service.py"),
        Use(("ZCARD", replicas), "services/stt_bridge/service.py"),
        Use(("ZREM", replicas, "t"), "services/stt_bridge/service.py"),
    ]


def _editor(n: StreamNames) -> list[Use]:
    e = SAMPLE_ENCOUNTER
    published, rate = n.key("editor", "published", e, "1"), n.key("editor", "rate", "m")
    ctx, enc, result = n.key("editor", "ctx", e), n.key("editor", "enc", e), n.key("editor", "r")
    state, limiter = "services/editor/state.py", "shared/rate_limit.py"
    return [
        *_consumer_group(n.turns, "editor", n.dead, "services/editor/service.py"),
        *_consumer_group(n.control, "editor", n.dead, "services/editor/service.py"),
        Use(("PING",), "services/editor/service.py"),
        Use(("XPENDING", n.turns, "editor"), "services/editor/service.py _backlog_loop"),
        Use(("XINFO", "GROUPS", n.turns), "services/editor/service.py _backlog_loop"),
        Use(("XREVRANGE", n.control, "+", "-", "COUNT", "10"), state),
        Use(("EXISTS", published), state),
        Use(("GET", result), state),
        Use(("SET", result, "x", "EX", "60"), state),
        Use(("HSET", ctx, "1", "x"), state),
        Use(("EXPIRE", ctx, "60"), state),
        Use(("HMGET", ctx, "1"), state),
        Use(("SET", enc, "x", "EX", "60"), state),
        Use(("GET", enc), state),
        # register_script(): EVALSHA, SCRIPT LOAD when the script cache is empty
        Use(("EVALSHA", "0" * 40, "3", published, n.edited, n.turns), state),
        Use(("EVALSHA", "0" * 40, "4", published, n.edited, n.turns, n.live("exam-1.x")), state),
        Use(("XACK", n.turns, "editor", "0-1"), "services/editor/state.py _PUBLISH_ONCE"),
        Use(
            ("XPENDING", n.turns, "editor", "IDLE", "1000", "-", "+", "10", "c"),
            "shared/streams.py _retake_own_orphans (concurrency > 1)",
        ),
        Use(
            ("XCLAIM", n.turns, "editor", "c", "1000", "0-1"),
            "shared/streams.py _retake_own_orphans (concurrency > 1)",
        ),
        *(Use(argv, limiter) for argv in _limiter_calls(rate)),
        Use(("SET", n.editor_quota_wait(e), "x", "PX", "3000"), "services/editor/waiting.py"),
        Use(("SCRIPT", "LOAD", "return 0"), "redis-py Script (state.py, limiter.py)"),
        Use(("SET", published, "x", "EX", "60"), "services/editor/state.py _PUBLISH_ONCE"),
        Use(("XADD", n.edited, "*", "f", "v"), "services/editor/state.py _PUBLISH_ONCE"),
        Use(
            ("XADD", n.live("exam-1.x"), "MAXLEN", "~", "500", "*", "f", "v"),
            "services/editor/state.py _PUBLISH_ONCE (a room's copy)",
        ),
    ]


def _limiter_calls(rate: str) -> list[Argv]:
    """shared/rate_limit.py: its script and the commands the script runs."""
    return [
        ("EVALSHA", "0" * 40, "1", rate),
        ("SCRIPT", "LOAD", "return 0"),
        # the limiter reads the Redis server clock: one clock for every replica
        ("TIME",),
        ("ZREMRANGEBYSCORE", rate, "-inf", "1"),
        ("ZCARD", rate),
        ("ZADD", rate, "1", "m"),
        ("PEXPIRE", rate, "1000"),
        ("ZRANGE", rate, "0", "0", "WITHSCORES"),
    ]


def _notes(n: StreamNames) -> list[Use]:
    partials = n.partials(SAMPLE_ENCOUNTER)
    sse, link = n.key("api", "sse-ticket", "h"), n.key("console", "signin-link", "h")
    dlq = "shared/dlq.py (medscribe dlq in the notes container)"
    throttle = n.key("api", "signin-fail", "10.0.0.1")
    trim, release = "shared/trim.py", "shared/release.py"
    audio = n.audio(SAMPLE_ENCOUNTER)
    return [
        *_consumer_group(n.control, "notes", n.dead, "services/notes/service.py"),
        *_consumer_group(n.edited, "notes", n.dead, "services/notes/service.py"),
        Use(("PING",), "services/notes/health.py"),
        Use(("XREVRANGE", partials, "+", "-", "COUNT", "1"), "services/notes/api/live.py"),
        Use(("XREVRANGE", n.edited, "+", "-", "COUNT", "1"), "services/notes/api/live.py"),
        # the shared LLM quota, before each SOAP call (shared/rate_limit.py QuotaGate)
        *(
            Use(argv, "shared/rate_limit.py (notes' SOAP calls)")
            for argv in _limiter_calls(n.llm_rate_prefix + "m")
        ),
        Use(
            ("GET", n.editor_quota_wait(SAMPLE_ENCOUNTER)),
            "services/notes/api/console/room_live.py, api/live.py (turns waiting for quota)",
        ),
        Use(
            ("XREAD", "COUNT", "100", "BLOCK", "1000", "STREAMS", partials, n.edited, "0-0", "0-0"),
            "services/notes/api/live.py",
        ),
        # an operator's look at the notes backlog from its container (tests/stack/test_stack.py)
        Use(("XLEN", n.edited), "operators: redis-cli --user notes XLEN ms:turns:edited"),
        Use(("SET", sse, "x", "PX", "1000"), "services/notes/api/tickets.py"),
        Use(("GETDEL", sse), "services/notes/api/tickets.py"),
        Use(("SET", link, "x", "PX", "1000"), "services/notes/api/console_sessions.py"),
        Use(("GETDEL", link), "services/notes/api/console_sessions.py"),
        Use(("XREVRANGE", n.dead, "+", "-", "COUNT", "50"), dlq),
        Use(("XRANGE", n.dead, "1-1", "1-1"), dlq),
        Use(("EVAL", "return 0", "2", n.dead, n.control), dlq),
        Use(("XDEL", n.dead, "1-1"), dlq),
        # replay of what notes itself dead-letters; other streams' entries need the admin
        Use(("XADD", n.control, "*", "f", "v"), dlq),
        Use(("XADD", n.edited, "*", "f", "v"), dlq),
        # failed sign-in throttle (per address, under ms:api:)
        Use(("GET", throttle), "services/notes/api/throttle.py"),
        Use(("TTL", throttle), "services/notes/api/throttle.py"),
        Use(("SET", throttle, "0", "EX", "60", "NX"), "services/notes/api/throttle.py"),
        Use(("INCR", throttle), "services/notes/api/throttle.py"),
        # housekeeping: memory budget and stream trimming (shared/trim.py)
        Use(("INFO", "memory"), "services/notes/housekeeping.py, shared/trim.py"),
        *(
            use
            for stream in (n.turns, n.edited, n.control)
            for use in (
                Use(("XINFO", "GROUPS", stream), trim),
                Use(("XPENDING", stream, "g"), trim),
                Use(("XRANGE", stream, "-", "+", "COUNT", "1"), trim),
                Use(("XREVRANGE", stream, "+", "-", "COUNT", "1"), trim),
                Use(("XLEN", stream), trim),
                Use(("XTRIM", stream, "MINID", "1-1"), trim),
                Use(("XDEL", stream, "1-1"), trim),
            )
        ),
        Use(("XLEN", n.dead), trim),
        # release of a durable visit's keys (shared/release.py, services/notes/release.py)
        Use(("SCAN", "0", "MATCH", n.prefix + "*", "COUNT", "1000"), release),
        Use(("OBJECT", "IDLETIME", audio), "services/notes/release.py sweep_orphans"),
        Use(("XRANGE", audio, "-", "+", "COUNT", "2000"), "services/notes/audio_archive.py"),
        *(Use(("DEL", key), release) for key in n.encounter_keys(SAMPLE_ENCOUNTER)),
        Use(("DEL", n.editor_published(SAMPLE_ENCOUNTER, 1)), release),
        Use(("SREM", n.bridge_active, SAMPLE_ENCOUNTER), release),
        *_room_gate(n),
    ]


def _room_gate(n: StreamNames) -> list[Use]:
    """services/notes/room_gate.py: each room's control stream, checked and forwarded."""
    gate, room = "services/notes/room_gate.py", "exam-1"
    control, opened = rooms.control_stream(n, room), rooms.open_key(n, room)
    enc = f"{room}.acl-probe"
    return [
        *_consumer_group(control, "gate", n.dead, gate),
        Use(("HGETALL", rooms.registry_key(n)), gate),
        Use(("XADD", n.control, "*", "f", "v"), gate),
        Use(("XDEL", control, "1-1"), gate),
        # _ADMIT (one script: the cap holds across replicas) and what it calls
        Use(("EVAL", "return 0", "1", opened, enc, "1", "1", "2"), gate),
        Use(("ZREMRANGEBYSCORE", opened, "-inf", "1"), gate),
        Use(("ZSCORE", opened, enc), gate),
        Use(("ZCARD", opened), gate),
        Use(("ZADD", opened, "1", enc), gate),
        Use(("ZREM", opened, enc), gate),
        # a refused start told to the room; the export folder told to the room
        Use(("XADD", n.live(enc), "MAXLEN", "~", "500", "*", "f", "v"), gate),
        Use(("EXPIRE", n.live(enc), "3600"), gate),
        Use(("XADD", n.live(enc), "MAXLEN", "~", "500", "*", "f", "v"), "notes/service.py"),
        # a room's browser: its one-time link, its current visit's live text
        Use(
            ("GETDEL", rooms.live_ticket_key(n, room, "h")),
            "services/notes/api/console/room_live.py",
        ),
        Use(("ZRANGE", opened, "-1", "-1"), "services/notes/api/console/room_live.py"),
        Use(("HEXISTS", rooms.registry_key(n), room), "services/notes/api/console/room_live.py"),
        Use(("SET", n.key("console", "room-session", "h"), room, "EX", "60"), "room_live.py"),
        Use(("GET", n.key("console", "room-session", "h")), "room_live.py"),
        Use(("GETDEL", n.key("console", "room-session", "h")), "room_live.py"),
        Use(("XRANGE", n.live(enc), "(1-1", "+", "COUNT", "200"), "notes/api/console/room_live.py"),
        # a revoked room's keys (services/notes/room_admin.py retire_keys)
        Use(("XINFO", "GROUPS", control), gate),
        Use(("XLEN", control), gate),
        Use(("DEL", control), gate),
        Use(("DEL", opened), gate),
        Use(("EXPIRE", control, "60"), gate),
    ]


def _room(room: str, n: StreamNames) -> list[Use]:
    """The capture agent logged in with a room's own credentials (shared/rooms.py)."""
    enc = f"{room}.acl-probe"
    audio, publisher = n.audio(enc), "services/capture/publisher.py"
    view = "services/capture/watcher.py"
    return [
        Use(("PING",), "services/capture/checks.py"),
        Use(("XADD", audio, "1-1", "f", "v"), f"{publisher} _send"),
        Use(("XADD", audio, "*", "f", "v"), f"{publisher} _add_behind_foreign"),
        Use(("XADD", rooms.control_stream(n, room), "*", "f", "v"), f"{publisher} _send"),
        Use(("XREVRANGE", audio, "+", "-", "COUNT", "1"), publisher),
        Use(("MULTI",), f"{publisher} _send (all of a batch or none)"),
        Use(("EXEC",), f"{publisher} _send"),
        Use(("WAIT", "1", "500"), f"{publisher} _send_stop_replicated"),
        Use(("XREVRANGE", n.live(enc), "+", "-", "COUNT", "1"), view),
        Use(
            ("SET", rooms.live_ticket_key(n, room, "h"), "1", "PX", "1000"),
            "services/capture/live_link.py",
        ),
        Use(
            ("XREAD", "COUNT", "100", "BLOCK", "500", "STREAMS", n.partials(enc), n.live(enc))
            + ("0-0", "0-0"),
            view,
        ),
    ]


_BUILDERS = {"capture": _capture, "bridge": _bridge, "editor": _editor, "notes": _notes}
ROOM_SERVICE = "room:"


def uses(service: str, names: StreamNames | None = None) -> list[Use]:
    """Every command ``service`` runs, with representative keys under ``names``' prefix;
    ``room:<name>`` is the capture agent with that room's credentials."""
    if service.startswith(ROOM_SERVICE):
        return _room(rooms.check_room(service[len(ROOM_SERVICE) :]), names or StreamNames())
    return _BUILDERS[service](names or StreamNames())


def url_user(url: str) -> str:
    """The Redis user a URL logs in as (``default`` when it names none)."""
    user = urlsplit(url).username
    return unquote(user) if user else "default"


# Each service user's rules as in deploy/users.acl, with ``{p}`` for the key prefix (glob
# escaped). deploy/users.acl is these with ``ms:`` (tests/cluster/test_cluster_acl.py
# compares them); a clinic on Redis Cluster gets them with its own prefix (``clinic_acl``).
_RULES = {
    "capture": "resetkeys resetchannels -@all +@connection -@dangerous +multi +exec +discard "
    "(+xadd +xrevrange %RW~{p}audio:*) (+xadd %W~{p}control)",
    "bridge": "resetkeys resetchannels -@all +@connection -@dangerous +multi +exec +discard "
    "+get +set +del +exists +expire +pexpire +persist +hget +hgetall +hset +hsetnx +hexists "
    "+hdel +sadd +srem +scard +smembers +zadd +zrem +zremrangebyscore +zcard +rpush +lrange "
    "~{p}bridge:* (+eval ~{p}bridge:* ~{p}turns ~{p}control) "
    "(+xgroup|create +xreadgroup +xack +xautoclaim +xpending +xadd ~{p}control) "
    "(+xadd %W~{p}turns %W~{p}partials:* %W~{p}dead) (+xread %R~{p}audio:*)",
    "editor": "resetkeys resetchannels -@all +@connection -@dangerous +multi +exec +discard "
    "+time +script|load +get +set +exists +expire +pexpire +hset +hmget +zadd +zcard +zrange "
    "+zremrangebyscore ~{p}editor:* (+evalsha ~{p}editor:* ~{p}turns ~{p}turns:edited ~{p}live:*) "
    "(+xgroup|create +xreadgroup +xack +xautoclaim +xclaim +xpending +xinfo|groups +xrevrange "
    "~{p}control ~{p}turns) (+xadd %W~{p}turns:edited %W~{p}live:* %W~{p}dead)",
    "notes": "resetkeys resetchannels -@all +@connection -@dangerous +multi +exec +discard "
    "+set +getdel +get +ttl +incr ~{p}api:* ~{p}console:* "
    "(+xgroup|create +xreadgroup +xack +xautoclaim +xpending ~{p}control ~{p}turns:edited) "
    "(+xread +xrevrange %R~{p}partials:* %R~{p}turns:edited) (+xlen %R~{p}turns:edited) "
    "(+xrange +xrevrange +xdel ~{p}dead) (+xadd %W~{p}dead %W~{p}control %W~{p}turns:edited) "
    "(+eval ~{p}dead ~{p}control ~{p}turns:edited) +info +scan "
    "(+xinfo|groups +xpending +xrange +xrevrange +xlen +xtrim +xdel ~{p}turns ~{p}turns:edited "
    "~{p}control) (+xlen ~{p}dead) (+del +object|idletime ~{p}audio:* ~{p}partials:* "
    "~{p}live:* ~{p}bridge:* ~{p}editor:*) (+srem ~{p}bridge:active) "
    "(+hgetall +hexists %R~{p}rooms) (+get %R~{p}editor:wait:*) "
    "(+evalsha +zremrangebyscore +zcard +zadd +pexpire +zrange ~{p}editor:rate:*) "
    "+time +script|load "
    "(+xgroup|create +xreadgroup +xack +xautoclaim +xpending +xdel +xinfo|groups +xlen +del "
    "+expire +zadd +zrem +zremrangebyscore +zcard +zscore +zrange +getdel ~{p}room:*) "
    "(+eval ~{p}room:*) (+xadd +expire +xrange ~{p}live:*) (+xrange %R~{p}audio:*)",
}
# What the cluster client itself sends: the slot map (CLUSTER SLOTS; COMMAND is in
# @connection). No key, and nothing that changes the cluster.
CLUSTER_CLIENT_RULES = "+cluster|slots +cluster|shards"
_TAG = re.compile(r"\{([^{}]+)\}")


def service_rules(service: str, names: StreamNames, *, cluster: bool = False) -> str:
    """The ACL rules of ``service``'s Redis user for keys under ``names.prefix`` only."""
    rules = _RULES[service].replace("{p}", rooms.glob_escape(names.prefix))
    return f"{rules} {CLUSTER_CLIENT_RULES}" if cluster else rules


def clinic_tag(prefix: str) -> str:
    """The hash tag of a clinic's prefix (``ms:{clinic-a}:`` gives ``clinic-a``)."""
    found = _TAG.search(prefix)
    if found is None:
        raise ValueError("a clinic's prefix needs a hash tag such as 'ms:{clinic-a}:'")
    return found.group(1)


def clinic_user(service: str, names: StreamNames) -> str:
    """The Redis user of ``service`` of the clinic whose keys are under ``names.prefix``."""
    return f"{clinic_tag(names.prefix)}-{service}"


def clinic_acl(names: StreamNames, passwords: dict[str, str]) -> list[str]:
    """users.acl lines (``user NAME on #SHA256 RULES``) of a clinic on Redis Cluster: one
    user per service, whose keys are all under the clinic's prefix, so one clinic's
    services can never read or write another's. Load them on every node (a cluster does
    not share ACLs between nodes); passwords stored as their SHA-256."""
    lines = []
    for service in SERVICES:
        digest = hashlib.sha256(passwords[service].encode()).hexdigest()
        rules = service_rules(service, names, cluster=True)
        lines.append(f"user {clinic_user(service, names)} on #{digest} {rules}")
    return lines


@dataclass(frozen=True)
class Denied:
    command: str
    reason: str


async def check_permissions(
    redis: aioredis.Redis, service: str, names: StreamNames
) -> list[Denied]:
    """Queue each of ``service``'s commands in MULTI, then DISCARD: the refused ones."""
    denied: list[Denied] = []
    seen: set[Argv] = set()
    conn, release = await _probe_connection(redis, names)
    try:
        await conn.send_command("MULTI")
        try:
            await conn.read_response()
        except NoPermissionError:
            # without MULTI nothing can be probed safely: say so, the rest comes after
            return [Denied("MULTI", "command")]
        for use in uses(service, names):
            if use.argv[0] in ("MULTI", "EXEC") or use.argv in seen:
                continue
            seen.add(use.argv)
            await conn.send_command(*use.argv)
            try:
                await conn.read_response()
            except NoPermissionError as err:
                denied.append(Denied(_name(use.argv), _reason(str(err))))
            except ResponseError:
                pass  # refused for another reason than the ACL: not this check's concern
        await conn.send_command("DISCARD")
        await conn.read_response()
        for cmd in ("EXEC",):  # EXEC cannot be queued: it is checked on its own
            if any(u.argv[0] == cmd for u in uses(service, names)):
                denied.extend(await _check_alone(conn, cmd))
    except BaseException:
        await conn.disconnect()  # may be left inside MULTI: never hand it back like that
        raise
    finally:
        await release(conn)
    return denied


async def _probe_connection(
    redis: aioredis.Redis, names: StreamNames
) -> tuple[Any, Callable[[Any], Awaitable[None]]]:
    """A connection of ``redis`` to the node that holds the clinic's keys, and how to hand
    it back. On Redis Cluster that is the primary of the prefix's slot (ACLs are per node;
    docs/cluster.md has them loaded on every node, so one node stands for all)."""
    pool: Any = getattr(redis, "connection_pool", None)
    if pool is not None:
        return await pool.get_connection(), pool.release
    cluster: Any = redis
    await cluster.initialize()
    node = cluster.get_node_from_key(names.control)
    conn = node.acquire_connection()

    async def release(c: Any) -> None:
        node.release(c)

    return conn, release


async def _check_alone(conn: Any, cmd: str) -> list[Denied]:
    """EXEC outside MULTI: Redis answers "without MULTI" only when the ACL allows it."""
    await conn.send_command(cmd)
    try:
        await conn.read_response()
    except ResponseError as err:  # NOPERM, or EXECABORT carrying the NOPERM
        if "NOPERM" in str(err) or isinstance(err, NoPermissionError):
            return [Denied(cmd, _reason(str(err)))]
    return []


def _name(argv: Argv) -> str:
    if argv[0] in ("XGROUP", "XINFO", "SCRIPT", "OBJECT"):
        return f"{argv[0]} {argv[1]}"
    return argv[0]


def _reason(message: str) -> str:
    return "key" if "keys" in message else "command"


async def require_permissions(
    redis: aioredis.Redis, service: str, names: StreamNames, url: str, timeout_s: float = 3.0
) -> str | None:
    """One line saying what ``service``'s Redis user may not run, or None when all is
    allowed (or Redis cannot be reached now: the service's own loops wait for it)."""
    try:
        denied = await asyncio.wait_for(check_permissions(redis, service, names), timeout_s)
    except (RedisError, OSError, TimeoutError):
        return None
    if not denied:
        return None
    if [d.command for d in denied] == ["MULTI"]:
        return (
            f"Redis user '{url_user(url)}' may not run MULTI, which {service} needs (and this"
            " check needs to list anything else missing) (see deploy/users.acl)"
        )
    parts = sorted(
        {f"{d.command} ({'on its keys' if d.reason == 'key' else 'command'})" for d in denied}
    )
    return (
        f"Redis user '{url_user(url)}' may not run what {service} needs: {', '.join(parts)}"
        " (see deploy/users.acl)"
    )


EXIT_NO_PERMISSION = 78  # EX_CONFIG: the deployment, not the data, must change


class PermissionsMissing(MedscribeError):
    """The start-up check found commands this service's Redis user may not run."""


async def startup_check(redis: aioredis.Redis, service: str, names: StreamNames, url: str) -> None:
    """Raise :class:`PermissionsMissing` (one line) before the service starts work."""
    line = await require_permissions(redis, service, names, url)
    if line is not None:
        raise PermissionsMissing(line)


def is_permission_error(err: BaseException) -> bool:
    """A NOPERM, including one raised inside a Lua script."""
    return isinstance(err, NoPermissionError) or (
        isinstance(err, ResponseError)
        and ("NOPERM" in str(err) or "can't run this command" in str(err))
    )


def _find(err: BaseException) -> BaseException | None:
    """The permission error in ``err``, its exception groups and its causes."""
    seen: set[int] = set()
    todo = [err]
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, PermissionsMissing) or is_permission_error(cur):
            return cur
        if isinstance(cur, BaseExceptionGroup):
            todo.extend(cur.exceptions)
        todo.extend(e for e in (cur.__cause__, cur.__context__) if e is not None)
    return None


def permission_failure(err: BaseException, url: str) -> str | None:
    """One line (no keys, no values) for a NOPERM found in ``err``, naming the user and
    the command; None when ``err`` holds none."""
    found = _find(err)
    if found is None:
        return None
    if isinstance(found, PermissionsMissing):
        return str(found)
    text = str(found)
    command = "a command"
    head = text.split(": ", 1)[0]
    if text.startswith("Command # ") and "(" in text:  # redis-py pipeline annotation
        command = text.split("(", 1)[1].split(" ", 1)[0].split(")", 1)[0].upper()
    elif "to run the '" in text:
        command = text.split("to run the '", 1)[1].split("'", 1)[0].upper()
    elif ": " in text and head.replace(" ", "").replace("|", "").isalpha() and head.isupper():
        command = head  # annotated by shared.streams.make_redis
    elif "script" in text:
        command = "a command in a Lua script"
    what = "on these keys" if "keys" in text else "at all"
    return f"Redis user '{url_user(url)}' may not run {command} {what} (see deploy/users.acl)"
