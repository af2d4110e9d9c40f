"""The room's browser watches the visit too: a one-time link to the console's room live
page, made with the room's own credentials (docs/architecture.md, "Rooms").

The agent leaves the SHA-256 of a random ticket under its own room's keys (it cannot
leave one for another room); the notes service redeems it once and gives that browser a
session that sees this room's current visit live and nothing else. Made beside the audio
path, never in it: Redis trouble only means no link.
"""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlencode

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.capture.live_view import LiveView
from shared import rooms
from shared.contracts import StreamNames
from shared.logging import get_logger

log = get_logger(__name__)


async def issue_live_link(
    redis: aioredis.Redis, names: StreamNames, room: str, notes_url: str
) -> str | None:
    """A one-time link (valid ``rooms.LIVE_TICKET_TTL_S``) or None when Redis refused."""
    ticket = rooms.LIVE_TICKET_PREFIX + secrets.token_urlsafe(24)
    key = rooms.live_ticket_key(names, room, rooms.ticket_hash(ticket))
    try:
        await redis.set(key, "1", px=rooms.LIVE_TICKET_TTL_S * 1000)
    except (RedisError, OSError) as err:
        log.warning("live_link_not_made", error=type(err).__name__)
        return None
    query = urlencode({"room": room, "ticket": ticket})
    return f"{notes_url.rstrip('/')}/live/room?{query}"


async def show_live_link(
    redis: aioredis.Redis, names: StreamNames, room: str, notes_url: str, view: LiveView
) -> None:
    try:
        link = await asyncio.wait_for(issue_live_link(redis, names, room, notes_url), 10.0)
    except TimeoutError:
        return
    if link is not None:
        view.live_link(link, rooms.LIVE_TICKET_TTL_S)
