"""Single-use tickets in Redis: for browsers' ``EventSource``, which cannot send an
Authorization header, and for the console's one-time sign-in links.

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


def _key(names: StreamNames, kind: tuple[str, str], ticket: str) -> str:
    digest = hashlib.sha256(ticket.encode("utf-8")).hexdigest()
    return names.key(*kind, digest)


async def issue_once(
    redis: Any, names: StreamNames, kind: tuple[str, str], prefix: str,
    payload: dict[str, Any], ttl_ms: int,
) -> str:  # fmt: skip
    """A random single-use ticket holding ``payload``; Redis keeps it under its SHA-256."""
    ticket = prefix + secrets.token_urlsafe(24)
    await redis.set(_key(names, kind, ticket), json.dumps(payload), px=max(ttl_ms, 1))
    return ticket


async def redeem_once(
    redis: Any, names: StreamNames, kind: tuple[str, str], prefix: str, ticket: str
) -> dict[str, Any] | None:
    """The ticket's payload, consumed atomically (GETDEL); None if unknown, used or expired."""
    if not ticket.startswith(prefix) or len(ticket) > 100:
        return None
    raw = await redis.getdel(_key(names, kind, ticket))
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


_SSE = ("api", "sse-ticket")


async def issue(redis: Any, names: StreamNames, token_id: int, encounter_id: str) -> str:
    payload = {"token_id": token_id, "encounter_id": encounter_id}
    return await issue_once(redis, names, _SSE, _PREFIX, payload, TICKET_TTL_S * 1000)


async def redeem(redis: Any, names: StreamNames, ticket: str, encounter_id: str) -> int | None:
    """The token id the ticket was issued to, or None (unknown, used, expired, other visit)."""
    data = await redeem_once(redis, names, _SSE, _PREFIX, ticket)
    if data is None or data.get("encounter_id") != encounter_id:
        return None
    try:
        return int(data["token_id"])
    except (ValueError, KeyError, TypeError):
        return None
