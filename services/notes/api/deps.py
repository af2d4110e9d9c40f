"""What every route gets injected: the app context, the caller, audited transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.api import queries, tickets
from services.notes.api.observe import ApiMetrics
from services.notes.auth import (
    Action,
    Principal,
    Role,
    allowed,
    hash_token,
    looks_like_token,
    may_access,
)
from services.notes.config import NotesSettings
from services.notes.console import sessions as console_sessions
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.models import ApiToken
from shared.contracts import StreamNames
from shared.logging import get_logger

log = get_logger(__name__)

NOT_AUTHENTICATED = "missing or invalid API token"
FORBIDDEN = "this token may not do that"
NOT_FOUND = "no such encounter"
CSRF_FAILED = "missing or invalid CSRF token"
# Requests that change data; with the console's session cookie they must carry the CSRF token.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class ApiContext:
    """Everything the routes share; built once by ``create_app``."""

    settings: NotesSettings
    db: Database
    redis: Any
    names: StreamNames
    metrics: ApiMetrics
    allowed_models: frozenset[str]
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    sse_heartbeat_s: float = 15.0
    sse_poll_s: float = 1.0


def get_ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(get_ctx)]

# auto_error=False: we answer 401 ourselves (FastAPI's default would be 403).
bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `medscribe notes token create` (or POST /v1/tokens).",
)


def unauthorized() -> HTTPException:
    return HTTPException(401, NOT_AUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})


def _principal(token: ApiToken) -> Principal:
    try:
        role = Role(token.role)
    except ValueError:
        # A row edited by hand with a role this code does not know: no access.
        log.warning("api_token_bad_role", token_id=token.id)
        raise unauthorized() from None
    return Principal(token_id=token.id, name=token.name, role=role, clinician_id=token.clinician_id)


async def authenticate(
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller behind ``Authorization: Bearer ms_…`` or the console's session cookie.

    No or a bad credential: 401. The cookie carries the same token identity and role
    rules; a data-changing request made with it also needs the session's CSRF token
    (``X-CSRF-Token``), else 403. Bearer requests never look at cookies.
    """
    if credentials is None:
        session_id = request.cookies.get(console_sessions.COOKIE)
        if session_id:
            return await session_principal(request, ctx, session_id)
    if credentials is None or not looks_like_token(credentials.credentials):
        raise unauthorized()
    async with ctx.db.session() as session:
        token = await repo.find_token_by_hash(session, hash_token(credentials.credentials))
        if token is None:
            raise unauthorized()
        who = _principal(token)
        await queries.touch_token(session, token)
        return who


async def session_principal(request: Request, ctx: ApiContext, session_id: str) -> Principal:
    """The principal of a console session (401 when it ended); CSRF-checked when unsafe."""
    async with ctx.db.session() as session:
        token = await console_sessions.resolve(
            session, session_id, console_sessions.Lifetimes.of(ctx.settings)
        )
        if token is not None:
            await queries.touch_token(session, token)
    # Raised outside the block, so that removing an ended session is committed.
    if token is None:
        raise unauthorized()
    who = _principal(token)
    if request.method in UNSAFE_METHODS and not console_sessions.csrf_ok(
        session_id, request.headers.get(console_sessions.CSRF_HEADER)
    ):
        raise HTTPException(403, CSRF_FAILED)
    return who


async def bearer_or_ticket(
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ticket: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="One-time ticket from POST …/events/ticket (for EventSource, which "
            "cannot send headers).",
        ),
    ] = None,
) -> Principal:
    """Bearer token, or a one-time ticket bound to this encounter (live follow only)."""
    if credentials is not None or ticket is None:
        return await authenticate(request, ctx, credentials)
    encounter_id = str(request.path_params.get("encounter_id", ""))
    token_id = await tickets.redeem(ctx.redis, ctx.names, ticket, encounter_id)
    if token_id is None:
        raise unauthorized()
    async with ctx.db.session() as session:
        token = await session.get(ApiToken, token_id)
        if token is None or token.revoked_at is not None:
            raise unauthorized()
        return _principal(token)


Caller = Annotated[Principal, Depends(authenticate)]
StreamCaller = Annotated[Principal, Depends(bearer_or_ticket)]


def source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@dataclass
class AuditedWork:
    """One transaction of a request plus its audit row.

    ``work.target`` and ``work.status`` may be set by the route before the block ends.
    """

    session: AsyncSession
    encounter_id: str | None
    target: str | None = None
    status: int = 200


@asynccontextmanager
async def audited(
    ctx: ApiContext,
    request: Request,
    who: Principal,
    action: Action,
    encounter_id: str | None = None,
) -> AsyncIterator[AuditedWork]:
    """Run the block in one transaction that also writes the audit row.

    Success: the row (status 200 or ``work.status``) commits with the read or change.
    An HTTP error (403, 404, 409, 412 …): the transaction rolls back and the refusal is
    audited on its own. Either way the audit row names who, what, when and from where.
    """
    ip = source_ip(request)
    try:
        async with ctx.db.session() as session:
            work = AuditedWork(session=session, encounter_id=encounter_id)
            yield work
            await repo.add_audit(
                session,
                actor=who.name,
                role=who.role.value,
                action=action.value,
                encounter_id=work.encounter_id,
                target=work.target,
                source_ip=ip,
                status=work.status,
            )
        ctx.metrics.audit_rows.labels(action.value).inc()
    except (HTTPException, RequestValidationError) as err:
        status = err.status_code if isinstance(err, HTTPException) else 422
        async with ctx.db.session() as session:
            await repo.add_audit(
                session,
                actor=who.name,
                role=who.role.value,
                action=action.value,
                encounter_id=encounter_id,
                source_ip=ip,
                status=status,
            )
        ctx.metrics.audit_rows.labels(action.value).inc()
        raise


def require(who: Principal, action: Action) -> None:
    """403 unless the role may perform ``action`` at all."""
    if not allowed(who, action):
        raise HTTPException(403, FORBIDDEN)


async def check_encounter(
    session: AsyncSession, who: Principal, action: Action, encounter_id: str
) -> None:
    """The role may do it (else 403), the encounter exists (else 404) and is theirs (else 403)."""
    require(who, action)
    exists, clinician = await queries.encounter_clinician(session, encounter_id)
    if not exists:
        raise HTTPException(404, NOT_FOUND)
    if not may_access(who, action, clinician):
        raise HTTPException(403, FORBIDDEN)
