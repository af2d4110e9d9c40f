"""The room's browser: a room-scoped session that watches that room's current visit live
and nothing else (issue 19; docs/architecture.md, "Rooms").

The room's capture agent leaves a one-time ticket under its own room's keys
(services/capture/live_link.py) and shows the link on the room's screen. Opening it here
redeems the ticket once (GETDEL) and sets a cookie for ``/live/room`` only: its session
(a Redis key holding the room's name, kept by the session id's SHA-256) reads the room's
newest open visit (the gate's open set) and that visit's live copy. It is no console
session: every other page and the API see no credential at all. A revoked room's
sessions end at the next poll.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from services.notes.api.console.routes import SECURITY_HEADERS, _secure, redirect, render
from services.notes.api.deps import ApiContext, get_ctx
from services.notes.fields import pick
from shared import rooms
from shared.contracts import (
    EditedTurn,
    LiveNotice,
    MalformedEntry,
    PartialTurn,
    QuotaWait,
    decode,
    flag_dicts,
)
from shared.logging import get_logger

log = get_logger(__name__)

router = APIRouter(include_in_schema=False)

COOKIE = "medscribe_room"
PATH = "/live/room"
SESSION_PREFIX = "rs_"
# A working day: the room's browser follows visit after visit without anyone signing in.
SESSION_S = 12 * 3600
_TICKET_RE = re.compile(r"^rl_[A-Za-z0-9_-]{20,60}$")
_SESSION_RE = re.compile(r"^rs_[A-Za-z0-9_-]{20,60}$")
_ENTRY_ID_RE = re.compile(r"^\d{1,20}-\d{1,20}$")
NO_SESSION = "This page needs the link shown by the room's capture agent (it works once)."
FEED_LIMIT = 200


def _session_key(ctx: ApiContext, session_id: str) -> str:
    digest = hashlib.sha256(session_id.encode()).hexdigest()
    return ctx.names.key("console", "room-session", digest)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def session_room(request: Request, ctx: ApiContext) -> str | None:
    """The room of this browser's room session, or None (none, ended, or room revoked)."""
    session_id = request.cookies.get(COOKIE)
    if not session_id or not _SESSION_RE.match(session_id):
        return None
    key = _session_key(ctx, session_id)
    raw = await ctx.redis.get(key)
    if raw is None:
        return None
    room = _text(raw)
    if not rooms.ROOM_RE.match(room):
        return None
    if not await ctx.redis.hexists(rooms.registry_key(ctx.names), room):
        await ctx.redis.getdel(key)  # revoked: the room's browser is cut off too
        return None
    return room


def _refused(status: int = 401) -> Response:
    return render("room_live.html", status=status, room=None, message=NO_SESSION)


@router.get(PATH)
async def room_live_page(
    request: Request,
    room: str | None = Query(None, max_length=40),
    ticket: str | None = Query(None, max_length=80),
) -> Response:
    ctx = get_ctx(request)
    if ticket is not None or room is not None:
        return await _redeem(request, ctx, room or "", ticket or "")
    try:
        mine = await session_room(request, ctx)
    except (RedisError, OSError):
        return render("room_live.html", status=503, room=None, message="Redis did not answer.")
    if mine is None:
        return _refused()
    return render("room_live.html", room=mine, message=None)


async def _redeem(request: Request, ctx: ApiContext, room: str, ticket: str) -> Response:
    if not rooms.ROOM_RE.match(room) or not _TICKET_RE.match(ticket):
        return _refused()
    key = rooms.live_ticket_key(ctx.names, room, rooms.ticket_hash(ticket))
    try:
        found = await ctx.redis.getdel(key)
        registered = found is not None and await ctx.redis.hexists(
            rooms.registry_key(ctx.names), room
        )
        if not registered:
            log.info("room_live_link_refused", room=room)
            return _refused()
        session_id = SESSION_PREFIX + secrets.token_urlsafe(32)
        await ctx.redis.set(_session_key(ctx, session_id), room, ex=SESSION_S)
    except (RedisError, OSError):
        return render("room_live.html", status=503, room=None, message="Redis did not answer.")
    log.info("room_live_session_started", room=room)
    response = redirect(PATH)  # the ticket leaves the address bar and the history
    response.set_cookie(
        COOKIE, session_id, max_age=SESSION_S, httponly=True, samesite="strict",
        secure=_secure(request, ctx), path=PATH,
    )  # fmt: skip
    return response


def _turn(turn: EditedTurn) -> dict[str, Any]:
    shown = pick(turn, ("seq", "speaker", "text", "edited_text", "edit_status", "end_ms"))
    return {**shown, "flags": flag_dicts(turn.flags)}


@router.get(PATH + "/feed")
async def room_live_feed(
    request: Request,
    encounter: str | None = Query(None, max_length=64),
    after: str | None = Query(None, max_length=45),
) -> Response:
    """The room's newest open visit: its turns after ``after`` (an entry id of the visit
    named by ``encounter``; another visit starts from its beginning) and its partial."""
    ctx = get_ctx(request)
    headers = {**SECURITY_HEADERS}
    try:
        room = await session_room(request, ctx)
        if room is None:
            return JSONResponse({"detail": NO_SESSION}, status_code=401, headers=headers)
        newest = await ctx.redis.zrange(rooms.open_key(ctx.names, room), -1, -1)
        if not newest:
            return JSONResponse({"encounter_id": None, "turns": []}, headers=headers)
        enc = _text(newest[0])
        start = after if encounter == enc and after and _ENTRY_ID_RE.match(after) else None
        rows = await ctx.redis.xrange(
            ctx.names.live(enc), min=f"({start}" if start else "-", count=FEED_LIMIT
        )
        partial_rows = await ctx.redis.xrevrange(ctx.names.partials(enc), count=1)
        waiting = QuotaWait.parse(await ctx.redis.get(ctx.names.editor_quota_wait(enc)))
    except (RedisError, OSError):
        return JSONResponse({"detail": "Redis did not answer."}, status_code=503, headers=headers)
    turns, last = [], start or "0-0"
    for entry_id, fields in rows:
        last = _text(entry_id)
        if _text(fields.get(b"type", fields.get("type", b""))) == LiveNotice.__name__:
            continue
        try:
            turns.append(_turn(decode(fields, EditedTurn)))
        except MalformedEntry:
            continue
    partial: dict[str, Any] | None = None
    for _, fields in partial_rows:
        try:
            p = decode(fields, PartialTurn)
        except MalformedEntry:
            continue
        partial = {"text": p.text, "at_ms": p.at_ms}
    body = {
        "encounter_id": enc, "turns": turns, "next": last, "partial": partial,
        "waiting": waiting.model_dump() if waiting else None,
    }  # fmt: skip
    return JSONResponse(body, headers=headers)
