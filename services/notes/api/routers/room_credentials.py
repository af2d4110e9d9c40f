"""Exam rooms' own Redis credentials for the console's Rooms page (admin only; issue 19).

The same operations as ``medscribe notes room add|list|revoke`` (services/notes/room_admin.py),
through the Redis admin user the notes service holds only when ``MEDSCRIBE_REDIS_ADMIN_URL``
is set; without it these endpoints answer 503 and the service needs no admin rights. The
password is shown once, in the answer to the add; audit rows name the room, never it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from redis.exceptions import RedisError

from services.notes import room_admin
from services.notes.api.deps import ApiContext
from services.notes.api.route_helpers import Call, answers
from services.notes.api.schemas import (
    RoomCredentialCreated,
    RoomCredentialIn,
    RoomCredentialList,
    RoomCredentialOut,
)
from services.notes.auth import Action

router = APIRouter(prefix="/v1/admin", tags=["rooms' credentials"])

NO_ADMIN = (
    "room credentials are managed with the Redis admin user: set MEDSCRIBE_REDIS_ADMIN_URL "
    "on the notes service (or use `medscribe notes room` where it is set)"
)
REDIS_DOWN = "Redis did not answer; nothing was changed, try again"


def _admin(ctx: ApiContext) -> Any:
    if ctx.redis_admin is None:
        raise HTTPException(503, NO_ADMIN)
    return ctx.redis_admin


@contextmanager
def _answers(status_of: Callable[[str], int] | None = None) -> Iterator[None]:
    """Redis not answering as 503; with ``status_of``, a room_admin refusal as the HTTP
    error it picks by the refusal's message."""
    try:
        yield
    except room_admin.RoomAdminError as err:
        if status_of is None:
            raise
        raise HTTPException(status_of(str(err)), str(err)) from None
    except (RedisError, OSError):
        raise HTTPException(503, REDIS_DOWN) from None


def _out(info: room_admin.RoomInfo) -> RoomCredentialOut:
    return RoomCredentialOut(
        name=info.name, user=info.user, created_at=info.created_at, active=info.has_credentials
    )


@router.get(
    "/rooms",
    summary="Exam rooms with their own Redis credentials (admin); never a password",
    **answers(RoomCredentialList),
)
async def list_rooms(call: Call) -> RoomCredentialList:
    async with call.allowed(Action.ROOM_CREDENTIALS_LIST) as work:
        with _answers():
            found = await room_admin.list_all(_admin(call.ctx), call.ctx.names)
        work.target = f"count={len(found)}"
        return RoomCredentialList(items=[_out(r) for r in found])


@router.post(
    "/rooms",
    summary="Give an exam room its own Redis credentials (admin); the password only here",
    **answers(RoomCredentialCreated, 409, 422, status_code=201),
)
async def add_room(body: RoomCredentialIn, call: Call) -> RoomCredentialCreated:
    async with call.allowed(Action.ROOM_CREDENTIALS_ADD) as work:
        client = _admin(call.ctx)
        work.target = f"room={body.name[:40]}"
        with _answers(lambda refusal: 409 if "exists" in refusal else 422):
            info, password = await room_admin.add(client, call.ctx.names, body.name)
        work.status = 201
        out = _out(info)
    return RoomCredentialCreated(**out.model_dump(), password=password)


@router.delete(
    "/rooms/{room}",
    summary="Revoke an exam room's credentials (admin): its connections close at once",
    **answers(RoomCredentialOut, 404, 422),
)
async def revoke_room(
    room: Annotated[str, Path(min_length=1, max_length=100)], call: Call
) -> RoomCredentialOut:
    async with call.allowed(Action.ROOM_CREDENTIALS_REVOKE) as work:
        client = _admin(call.ctx)
        work.target = f"room={room[:40]}"
        with _answers(lambda refusal: 404 if refusal.startswith("no room") else 422):
            info = await room_admin.revoke(client, call.ctx.names, room)
        return _out(info)
