"""Console sessions: created from an API token, kept server-side, ended by sign-out.

The browser holds a random session id in an HttpOnly cookie; the database holds only its
SHA-256. The CSRF token is derived from the session id (HMAC-like SHA-256 with a label),
so it needs no storage and changes with every session. One-time sign-in links
(``medscribe demo``) are Redis keys holding the hash of the token they sign in, kept by
the SHA-256 of the link's ticket and consumed atomically (GETDEL).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.api.tickets import issue_once, redeem_once
from services.notes.config import NotesSettings
from services.notes.db.models import ApiToken, ConsoleSession, utcnow
from shared.contracts import StreamNames

COOKIE = "medscribe_session"
SIGNIN_COOKIE = "medscribe_signin"  # double-submit value of the sign-in form (login CSRF)
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_PREFIX = "cs_"
LINK_PREFIX = "sl_"
# Writing last_seen_at on every request would make every read a write.
TOUCH_INTERVAL = timedelta(seconds=30)


def new_session_id() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def hash_session(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def csrf_token(session_id: str) -> str:
    """The session's CSRF token: derived, unguessable without the (HttpOnly) session id."""
    return hashlib.sha256(b"medscribe-csrf:" + session_id.encode("utf-8")).hexdigest()


def csrf_ok(session_id: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(session_id), sent)


def looks_like_session(value: str | None) -> bool:
    return (
        value is not None
        and value.startswith(SESSION_PREFIX)
        and 20 < len(value) < 100
        and all(c.isalnum() or c in "_-" for c in value)
    )


@dataclass(frozen=True)
class Lifetimes:
    lifetime: timedelta
    idle: timedelta

    @classmethod
    def of(cls, settings: NotesSettings) -> Lifetimes:
        return cls(
            lifetime=timedelta(seconds=settings.console_session_lifetime_s),
            idle=timedelta(seconds=settings.console_idle_timeout_s),
        )


async def create(
    session: AsyncSession, token_id: int, lifetimes: Lifetimes, now: datetime | None = None
) -> str:
    """A new session for the token; returns the session id (for the cookie only)."""
    now = now or utcnow()
    session_id = new_session_id()
    session.add(
        ConsoleSession(
            session_hash=hash_session(session_id),
            token_id=token_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetimes.lifetime,
        )
    )
    # Sign-in is a good moment to forget sessions that ended long ago.
    await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    await session.flush()
    return session_id


async def resolve(session: AsyncSession, session_id: str, lifetimes: Lifetimes) -> ApiToken | None:
    """The live (unexpired, not idle, token not revoked) session's token, or None."""
    if not looks_like_session(session_id):
        return None
    now = utcnow()
    row = await session.scalar(
        select(ConsoleSession).where(ConsoleSession.session_hash == hash_session(session_id))
    )
    if row is None:
        return None
    if row.expires_at <= now or row.last_seen_at + lifetimes.idle <= now:
        await session.delete(row)
        return None
    token = await session.get(ApiToken, row.token_id)
    if token is None or token.revoked_at is not None:
        await session.delete(row)
        return None
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        row.last_seen_at = now
    return token


async def end(session: AsyncSession, session_id: str) -> bool:
    """Delete the session (sign-out); True when there was one."""
    if not looks_like_session(session_id):
        return False
    result: Any = await session.execute(
        delete(ConsoleSession).where(ConsoleSession.session_hash == hash_session(session_id))
    )
    return bool(result.rowcount)


_LINK = ("console", "signin-link")


async def issue_link(
    redis: Any, names: StreamNames, token_hash: str, ttl_s: float, *, invite: bool = False
) -> str:
    """A one-time sign-in ticket for the token with this hash (valid ``ttl_s``, used once).
    ``invite``: an administrator's personal link, after which its owner without a password
    is asked to choose one."""
    payload: dict[str, Any] = {"token_hash": token_hash, "invite": invite}
    return await issue_once(redis, names, _LINK, LINK_PREFIX, payload, int(ttl_s * 1000))


async def redeem_link(redis: Any, names: StreamNames, ticket: str) -> tuple[str, bool] | None:
    """(token hash, is an invite) of the ticket, or None (unknown, used or expired)."""
    data = await redeem_once(redis, names, _LINK, LINK_PREFIX, ticket)
    found = data.get("token_hash") if data else None
    if not isinstance(found, str) or data is None:
        return None
    return found, data.get("invite") is True
