"""Audit log (read-only) and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from services.notes.api import console_sessions as sessions
from services.notes.api import queries
from services.notes.api.route_helpers import Call, Cursor, PlainFilter, answers
from services.notes.api.schemas import (
    ENCOUNTER_ID_PATTERN,
    AuditEntryOut,
    AuditPage,
    SigninLink,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
)
from services.notes.auth import Action, Role, hash_token, new_token
from services.notes.db import repo
from services.notes.db.models import ApiToken

router = APIRouter(prefix="/v1", tags=["audit and tokens"])

TOKEN_NOT_FOUND = "no such token"
# An invitation is opened within a working day; it signs in once, then it is gone.
INVITE_TTL_S = 24 * 3600
TokenIdPath = Annotated[int, Path(ge=1, le=2**62)]


async def _unrevoked_token(session: AsyncSession, token_id: int, revoked: str) -> ApiToken:
    """The token ``token_id``: 404 when there is none, 409 (``revoked``) when revoked."""
    token = await queries.get_token(session, token_id)
    if token is None:
        raise HTTPException(404, TOKEN_NOT_FOUND)
    if token.revoked_at is not None:
        raise HTTPException(409, revoked)
    return token


@router.get("/audit", summary="Query the audit log (auditor, admin)", **answers(AuditPage))
async def get_audit(
    call: Call,
    actor: PlainFilter = None,
    action: Annotated[str | None, Query(max_length=50, pattern=r"^[a-z_.]+$")] = None,
    encounter_id: Annotated[str | None, Query(pattern=ENCOUNTER_ID_PATTERN)] = None,
    since: Annotated[datetime | None, Query(description="At or after (UTC if no zone).")] = None,
    until: Annotated[datetime | None, Query(description="Before.")] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Newest first. This query is itself audited. The log has no write endpoints."""
    async with call.allowed(Action.AUDIT_READ, encounter_id) as work:
        filters = queries.AuditFilter(
            actor=actor, action=action, encounter_id=encounter_id, since=since, until=until
        )
        rows, next_cursor = await queries.list_audit(work.session, filters, cursor, limit)
        work.target = f"count={len(rows)}"
        return AuditPage(
            items=[AuditEntryOut.model_validate(r) for r in rows], next_cursor=next_cursor
        )


@router.post(
    "/tokens",
    summary="Create an API token (admin); the secret is shown only here",
    **answers(TokenCreated, 409, status_code=201),
)
async def create_token(body: TokenCreate, call: Call) -> TokenCreated:
    async with call.allowed(Action.TOKEN_CREATE) as work:
        if body.role is Role.CLINICIAN and not body.clinician_id:
            raise HTTPException(409, "a clinician token needs clinician_id")
        if body.role is not Role.CLINICIAN and body.clinician_id:
            raise HTTPException(409, "only clinician tokens carry a clinician_id")
        if await queries.token_name_taken(work.session, body.name):
            raise HTTPException(409, "a token with this name exists")
        secret = new_token()
        try:
            token = await repo.create_token(
                work.session,
                name=body.name,
                role=body.role.value,
                clinician_id=body.clinician_id,
                token_hash=hash_token(secret),
            )
        except repo.VersionConflict:
            raise HTTPException(409, "a token with this name exists") from None
        work.status = 201
        work.target = f"token:{token.id}"
        out = TokenOut.model_validate(token)
    return TokenCreated(**out.model_dump(), token=secret)


@router.get("/tokens", summary="List API tokens (admin); never their secrets", **answers(TokenList))
async def list_tokens(call: Call) -> TokenList:
    async with call.allowed(Action.TOKEN_LIST) as work:
        tokens = await repo.list_tokens(work.session)
        return TokenList(items=[TokenOut.model_validate(t) for t in tokens])


@router.delete(
    "/tokens/{token_id}", summary="Revoke an API token (admin)", **answers(TokenOut, 404, 409)
)
async def revoke_token(token_id: TokenIdPath, call: Call) -> TokenOut:
    async with call.allowed(Action.TOKEN_REVOKE) as work:
        token = await _unrevoked_token(work.session, token_id, "the token is already revoked")
        token = await repo.revoke_token(work.session, token.name)
        work.target = f"token:{token.id}"
        return TokenOut.model_validate(token)


@router.post(
    "/tokens/{token_id}/signin-link",
    summary="A personal one-time sign-in link for a token's owner (admin)",
    **answers(SigninLink, 404, 409, status_code=201),
)
async def signin_link(token_id: TokenIdPath, call: Call) -> SigninLink:
    """Send the link instead of the token: opening it once starts a console session with
    the token's identity and role (valid 24 h; audited as token.create)."""
    async with call.allowed(Action.TOKEN_CREATE) as work:
        token = await _unrevoked_token(work.session, token_id, "the token is revoked")
        ticket = await sessions.issue_link(
            call.ctx.redis, call.ctx.names, token.token_hash, INVITE_TTL_S, invite=True
        )
        work.status = 201
        work.target = f"signin-link:token:{token.id}"
    return SigninLink(url=f"/signin/link?ticket={ticket}", expires_in_s=INVITE_TTL_S)
