"""One-time tickets for browsers' ``EventSource``, which cannot send an Authorization header.

A client with a token asks for a ticket for one encounter (``POST …/events/ticket``) and
opens ``GET …/events?ticket=…``. The ticket is random, valid for 60 s, usable once, bound
to the token and the encounter, and kept in Redis only as its SHA-256 (GETDEL redeems it
atomically). A ticket in a URL is therefore worth nothing after the stream has opened.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from shared.contracts import StreamNames

TICKET_TTL_S = 60
_PREFIX = "st_"


def _key(names: StreamNames, ticket: str) -> str:
    digest = hashlib.sha256(ticket.encode("utf-8")).hexdigest()
    return names.key("api", "sse-ticket", digest)


async def issue(redis: Any, names: StreamNames, token_id: int, encounter_id: str) -> str:
    ticket = _PREFIX + secrets.token_urlsafe(24)
    value = json.dumps({"token_id": token_id, "encounter_id": encounter_id})
    await redis.set(_key(names, ticket), value, ex=TICKET_TTL_S)
    return ticket


async def redeem(redis: Any, names: StreamNames, ticket: str, encounter_id: str) -> int | None:
    """The token id the ticket was issued to, or None (unknown, used, expired, other visit)."""
    if not ticket.startswith(_PREFIX) or len(ticket) > 100:
        return None
    raw = await redis.getdel(_key(names, ticket))
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        token_id = int(data["token_id"])
    except (ValueError, KeyError, TypeError):
        return None
    return token_id if data.get("encounter_id") == encounter_id else None
