"""Rooms' Redis credentials (``medscribe notes room add|list|revoke`` and the admin API).

Needs the Redis admin user (``MEDSCRIBE_REDIS_ADMIN_URL``): creating a Redis user is an
administrator's act, which no service's own user may do. A room is an ACL user
``room-<name>`` (rules: shared/rooms.py) plus an entry in the room registry the notes
service's gate reads. ``ACL SAVE`` writes the users to Redis's ACL file, whose room lines
the Redis entrypoint keeps across restarts. Revoking deletes the user: Redis closes its
open connections at once.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared import rooms
from shared.contracts import StreamNames
from shared.errors import MedscribeError


class RoomAdminError(MedscribeError):
    """A refusal fit for the operator (names the room, never a password)."""


@dataclass(frozen=True)
class RoomInfo:
    name: str
    user: str
    created_at: str
    has_credentials: bool


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def reachable(admin: Any, attempts: int = 4, wait_s: float = 2.0) -> None:
    """PING until Redis answers, ``attempts`` times ``wait_s`` apart: an admin command run
    while Redis restarts or the container network settles (a recreated container, a name
    not resolving for a moment) waits a few seconds instead of failing before it started.
    Only the connection is retried, never a change."""
    for attempt in range(attempts):
        try:
            await admin.ping()
            return
        except (RedisConnectionError, RedisTimeoutError, BusyLoadingError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(wait_s)


async def _save(admin: Any) -> bool:
    """ACL SAVE when Redis has an ACL file (compose); False when it has none."""
    try:
        await admin.execute_command("ACL", "SAVE")
    except ResponseError as err:
        if "ACL file" in str(err) or "aclfile" in str(err).lower():
            return False
        raise
    return True


async def add(admin: Any, names: StreamNames, room: str) -> tuple[RoomInfo, str]:
    """Create ``room``'s Redis user; returns it and the password (to be shown once)."""
    try:
        rooms.check_room(room)
    except rooms.RoomNameError as err:
        raise RoomAdminError(str(err)) from None
    user = rooms.user_of(room)
    if await admin.hexists(rooms.registry_key(names), room) or await _user_exists(admin, user):
        raise RoomAdminError(f"room {room!r} exists (revoke it first to issue new credentials)")
    password = secrets.token_urlsafe(24)
    line = rooms.acl_line(names, room, password).split()
    await admin.execute_command("ACL", "SETUSER", user, "reset", *line[2:])
    created = datetime.now(UTC).isoformat(timespec="seconds")
    await admin.hset(rooms.registry_key(names), room, json.dumps({"created_at": created}))
    await _save(admin)
    return RoomInfo(room, user, created, True), password


async def _user_exists(admin: Any, user: str) -> bool:
    return await admin.execute_command("ACL", "GETUSER", user) is not None


async def list_all(admin: Any, names: StreamNames) -> list[RoomInfo]:
    raw: dict[Any, Any] = await admin.hgetall(rooms.registry_key(names))
    found = []
    for key, value in sorted(raw.items()):
        name = _text(key)
        try:
            created = str(json.loads(_text(value)).get("created_at", "?"))
        except (ValueError, AttributeError):
            created = "?"
        user = rooms.user_of(name) if rooms.ROOM_RE.match(name) else name
        found.append(RoomInfo(name, user, created, await _user_exists(admin, user)))
    return found


async def revoke(admin: Any, names: StreamNames, room: str) -> RoomInfo:
    """Delete ``room``'s Redis user (its connections close now) and registry entry."""
    try:
        user = rooms.user_of(room)
    except rooms.RoomNameError as err:
        raise RoomAdminError(str(err)) from None
    known = await admin.hexists(rooms.registry_key(names), room)
    deleted = int(await admin.execute_command("ACL", "DELUSER", user))
    if not known and not deleted:
        raise RoomAdminError(f"no room {room!r} (see `medscribe notes room list`)")
    await admin.hdel(rooms.registry_key(names), room)
    await retire_keys(admin, names, room)
    await _save(admin)
    return RoomInfo(room, user, "", False)


async def retire_keys(client: Any, names: StreamNames, room: str) -> bool:
    """Remove a revoked room's keys: its open-visit set at once, its control stream when
    nothing in it is waiting or pending (else it expires in ``rooms.RETIRE_TTL_S``).
    Returns True when everything is gone. Used by ``revoke`` and by the gate
    (services/notes/room_gate.py), whose reader may have made the stream again meanwhile."""
    await client.delete(rooms.open_key(names, room))
    stream = rooms.control_stream(names, room)
    pending = 0
    try:
        for group in await client.xinfo_groups(stream):
            pending += int(group.get("pending", 0) or 0)
    except ResponseError:  # no such key: nothing left
        return True
    if pending == 0 and int(await client.xlen(stream)) == 0:
        await client.delete(stream)
        return True
    await client.expire(stream, rooms.RETIRE_TTL_S)
    return False
