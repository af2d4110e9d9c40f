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
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.api import console_sessions, proxies, queries, throttle, tickets
from services.notes.api.errors import http_error
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
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.models import ApiToken
from services.notes.domain.errors import DomainError
from services.notes.metrics import NotesMetrics
from services.notes.soap import ChatClient
from shared.contracts import StreamNames
from shared.logging import get_logger
from shared.readiness import GatewayKeyWatch

log = get_logger(__name__)

NOT_AUTHENTICATED = "missing or invalid API token"
# The audit actor of a refused credential: nobody is known (and the credential is secret).
UNKNOWN_ACTOR = "(unknown)"
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
    # Live streams read Redis through their own pool (``live_redis``), bounded by
    # ``settings.live_max_total``, so followers can never starve the consumer or the API.
    live_redis: Any = None
    live_by_token: dict[int, int] = field(default_factory=dict)
    trusted_proxies: tuple[proxies.Network, ...] = ()
    live_total: int = 0
    # The notes service's own metrics (Redis budget, streams, lag), when run inside it.
    service_metrics: NotesMetrics | None = None
    # The Redis admin user, only when MEDSCRIBE_REDIS_ADMIN_URL is set: rooms' credentials.
    redis_admin: Any = None
    # The notes service's LLM Gateway client (after-visit summaries); None: not offered.
    gateway: ChatClient | None = None
    # Summaries written at once by this process (each holds a gateway request).
    summary_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    # The notes service's view of the LLM Gateway key (readiness), when run inside it.
    gateway_key: GatewayKeyWatch | None = None


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


async def auth_failed(request: Request, ctx: ApiContext, kind: str) -> HTTPException:
    """Count a refused credential and audit it (who is unknown; never the credential).

    ``kind`` is missing, bearer, session or ticket. A request without any credential is
    only counted. Audit rows per address are bounded per window (``throttle``), so a
    flood of bad tokens cannot flood the audit log; the metric counts every one.
    """
    ctx.metrics.auth_failures.labels(kind).inc()
    if kind != "missing":
        ip = source_ip(request)
        try:
            seen = await throttle.count_failure(
                ctx.redis, ctx.names, throttle.API, ip, ctx.settings.signin_window_s
            )
        except RedisError:
            seen = 1  # Redis down: audit anyway rather than lose the record
        if seen <= throttle.API_AUDIT_LIMIT:
            await audit_failure(ctx, Action.AUTH_FAILED, kind, ip)
    return unauthorized()


async def audit_failure(ctx: ApiContext, action: Action, target: str, ip: str | None) -> None:
    async with ctx.db.session() as session:
        await repo.add_audit(
            session, actor=UNKNOWN_ACTOR, action=action.value, target=target, source_ip=ip,
            status=401,
        )  # fmt: skip
    ctx.metrics.audit_rows.labels(action.value).inc()


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
        # An Authorization header that is not a bearer token (Basic …) is a failed attempt.
        kind = "bearer" if request.headers.get("authorization") else "missing"
        raise await auth_failed(request, ctx, kind)
    if not looks_like_token(credentials.credentials):
        raise await auth_failed(request, ctx, "bearer")
    async with ctx.db.session() as session:
        token = await repo.find_token_by_hash(session, hash_token(credentials.credentials))
        if token is not None:
            who = _principal(token)
            await queries.touch_token(session, token)
            return who
    raise await auth_failed(request, ctx, "bearer")


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
        raise await auth_failed(request, ctx, "session")
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
    if token_id is not None:
        async with ctx.db.session() as session:
            token = await session.get(ApiToken, token_id)
            if token is not None and token.revoked_at is None:
                return _principal(token)
    raise await auth_failed(request, ctx, "ticket")


Caller = Annotated[Principal, Depends(authenticate)]
StreamCaller = Annotated[Principal, Depends(bearer_or_ticket)]


def source_ip(request: Request) -> str | None:
    """The client's address (behind a trusted proxy: the one it forwarded)."""
    peer = request.client.host if request.client else None
    ctx: ApiContext = request.app.state.ctx
    return proxies.client_address(peer, request.headers.get("x-forwarded-for"), ctx.trusted_proxies)


def came_over_https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else None
    ctx: ApiContext = request.app.state.ctx
    return proxies.forwarded_https(
        peer, request.headers.get("x-forwarded-proto"), ctx.trusted_proxies
    )


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
    An HTTP error (403, 404, 409, 412 …) or a refused domain operation (answered as its
    HTTP error): the transaction rolls back and the refusal is audited on its own. Either
    way the audit row names who, what, when and from where.
    """
    ip = source_ip(request)
    try:
        async with ctx.db.session() as session:
            work = AuditedWork(session=session, encounter_id=encounter_id)
            try:
                yield work
            except DomainError as err:
                raise http_error(err) from None
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
    """The role may do it (else 403), the encounter exists and is theirs (else 404).

    Another clinician's encounter answers exactly like an unknown id, so that a clinician
    cannot probe which encounter ids exist (the refusal is still audited).
    """
    require(who, action)
    exists, clinician = await queries.encounter_clinician(session, encounter_id)
    if not exists or not may_access(who, action, clinician):
        raise HTTPException(404, NOT_FOUND)


@asynccontextmanager
async def audited_encounter(
    ctx: ApiContext, request: Request, who: Principal, action: Action, encounter_id: str
) -> AsyncIterator[AuditedWork]:
    """:func:`audited` for a route on one encounter: the block runs once
    :func:`check_encounter` let the caller at it (its 403 or 404 is audited as a refusal)."""
    async with audited(ctx, request, who, action, encounter_id) as work:
        await check_encounter(work.session, who, action, encounter_id)
        yield work
