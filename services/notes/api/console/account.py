"""The signed-in user's own account page: set or change the console password.

A personal sign-in link from an administrator is the invite: the owner lands here, chooses
a password, and signs in with their name and that password from then on (no key to paste).
Changing an existing password asks for the current one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from services.notes import passwords
from services.notes.api import console_sessions as sessions
from services.notes.api.console.routes import Signed, form_fields, redirect, render, signed_in
from services.notes.api.deps import get_ctx, source_ip
from services.notes.auth import Action
from services.notes.db import repo
from services.notes.db.models import ApiToken
from shared.logging import get_logger

log = get_logger(__name__)
router = APIRouter(include_in_schema=False)

WRONG_CURRENT = "Your current password is not right."
NOT_THE_SAME = "The two new passwords are not the same."
SAVED = "Password saved. Next time, sign in with your name and this password."


async def _token(request: Request, token_id: int) -> ApiToken | None:
    async with get_ctx(request).db.session() as session:
        return await session.get(ApiToken, token_id)


def _page(me: Signed, *, has_password: bool, status: int = 200, **shown: Any) -> Response:
    """The account page; ``shown`` adds a message, a welcome or a saved notice."""
    return render(
        "password.html", status=status, me=me, page="account", has_password=has_password,
        min_length=passwords.MIN_LENGTH, **shown,
    )  # fmt: skip


@router.get("/account/password")
async def password_page(request: Request) -> Response:
    me = await signed_in(request, get_ctx(request))
    if me is None:
        return redirect("/signin")
    token = await _token(request, me.who.token_id)
    welcome = request.query_params.get("welcome") == "1"
    return _page(me, has_password=bool(token and token.password_hash), welcome=welcome)


@router.post("/account/password")
async def set_password(request: Request) -> Response:
    ctx = get_ctx(request)
    me = await signed_in(request, ctx)
    if me is None:
        return redirect("/signin")
    fields = await form_fields(request)
    if not sessions.csrf_ok(request.cookies.get(sessions.COOKIE, ""), fields.get("csrf_token")):
        raise HTTPException(403, "missing or invalid CSRF token")
    token = await _token(request, me.who.token_id)
    if token is None:
        return redirect("/signin")
    new, repeat = fields.get("new_password", ""), fields.get("repeat_password", "")

    def again(message: str, status: int) -> Response:
        return _page(me, has_password=bool(token.password_hash), status=status, message=message)

    if token.password_hash and not await asyncio.to_thread(
        passwords.verify, fields.get("current_password", ""), token.password_hash
    ):
        ctx.metrics.auth_failures.labels("password_change").inc()
        return again(WRONG_CURRENT, 401)
    if new != repeat:
        return again(NOT_THE_SAME, 422)
    try:
        passwords.check_policy(new, token.name)
    except passwords.PasswordRejected as err:
        return again(str(err), 422)
    hashed = await asyncio.to_thread(passwords.hash_password, new)
    async with ctx.db.session() as session:
        await repo.set_password(session, token.id, hashed)
        await repo.add_audit(
            session, actor=token.name, role=token.role,
            action=Action.CONSOLE_PASSWORD_SET.value, source_ip=source_ip(request), status=200,
        )  # fmt: skip
    ctx.metrics.audit_rows.labels(Action.CONSOLE_PASSWORD_SET.value).inc()
    log.info("console_password_set", token_id=token.id)
    return _page(me, has_password=True, saved=SAVED)
