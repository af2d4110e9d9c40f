"""Shared pieces of the rooms tests: a room's credentials on the production-ACL Redis and
a running room gate (as the `notes` user)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from services.notes import room_admin
from services.notes.config import NotesSettings
from services.notes.metrics import NotesMetrics
from services.notes.room_gate import RoomGate
from shared import rooms
from shared.contracts import StreamNames
from shared.streams import make_redis
from tests.helpers.acl import PROD_PREFIX, AclRedis

N = StreamNames(PROD_PREFIX)


def room_url(acl: AclRedis, room: str, password: str) -> str:
    port = acl.admin_url.rsplit(":", 1)[1].split("/")[0]
    return f"redis://{rooms.user_of(room)}:{quote(password, safe='')}@127.0.0.1:{port}/0"


async def add_room(acl: AclRedis, room: str) -> str:
    """``room``'s credentials (as `medscribe notes room add` makes them); its URL."""
    admin = make_redis(acl.admin_url)
    try:
        _, password = await room_admin.add(admin, N, room)
    finally:
        await admin.aclose()
    return room_url(acl, room, password)


def gate_settings(acl: AclRedis, tmp_path: Path, **extra: Any) -> NotesSettings:
    values: dict[str, Any] = {
        "redis_url": acl.url("notes"),
        "stream_prefix": PROD_PREFIX,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'n.db'}",
        "room_max_open": 1,
        "room_refresh_s": 0.1,
    }
    values.update(extra)
    return NotesSettings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running_gate(settings: NotesSettings) -> AsyncIterator[RoomGate]:
    client = make_redis(settings.redis_url)
    gate = RoomGate(settings, client, NotesMetrics())
    stop = asyncio.Event()
    task = asyncio.create_task(gate.run(stop))
    try:
        yield gate
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await client.aclose()
