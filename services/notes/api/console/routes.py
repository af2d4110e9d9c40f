"""Pages of the web console, sign-in and sign-out.

Pages are shells rendered on the server (who is signed in, what they may do, the
encounter id); the patient data in them is fetched by console.js from the ``/v1`` API with
the session cookie, so every read goes through the API's role rules and audit log. Nothing
of a patient's record is ever put into a URL by these routes.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from redis.exceptions import RedisError

from services.notes import passwords
from services.notes.api import console_sessions as sessions
from services.notes.api import throttle
from services.notes.api.body_limit import declared_length
from services.notes.api.console.wording import STATUS_LABELS, model_label
from services.notes.api.deps import (
    ApiContext,
    audit_failure,
    came_over_https,
    check_encounter,
    get_ctx,
    source_ip,
)
from services.notes.api.proxies import is_loopback
from services.notes.api.routers.encounters import EncounterIdPath
from services.notes.auth import Action, Principal, Role, allowed, hash_token, looks_like_token
from services.notes.db import repo
from services.notes.db.models import ApiToken
from services.notes.status import EncounterStatus
from shared.logging import get_logger

log = get_logger(__name__)
HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

router = APIRouter(include_in_schema=False)

# No inline script or style, no framing, nothing from elsewhere, no referrer to leak ids.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# The list's status filter: every status a visit is worked in (not purged).
STATUSES = tuple(s for s in EncounterStatus if s is not EncounterStatus.PURGED)
MAX_FORM_BYTES = 4096
ROLES = frozenset(r.value for r in Role)
BAD_TOKEN = "That token is not valid (unknown, revoked or mistyped)."
BAD_PASSWORD = "That name and password do not match an account with a password."
LINK_USED = (
    "This sign-in link was already used or has expired. Sign in with your name and password,"
    " or ask your administrator for a new link."
)
FORM_EXPIRED = "The sign-in form expired. Please try again."
TOO_MANY = (
    "Too many failed sign-ins from this computer. Try again in {minutes} minute(s), "
    "or ask your administrator."
)
FORM_TOO_LARGE = f"form too large (at most {MAX_FORM_BYTES} bytes)"


def _secure(request: Request, ctx: ApiContext) -> bool:
    """Secure unless turned off, or plain http from loopback (a local demo or test)."""
    configured = ctx.settings.console_secure_cookie
    if configured is not None:
        return configured
    return came_over_https(request) or not is_loopback(source_ip(request))


def render(
    name: str, status: int = 200, headers: dict[str, str] | None = None, **data: Any
) -> HTMLResponse:
    statuses = [(s, STATUS_LABELS[s]) for s in STATUSES]
    html = templates.get_template(name).render(statuses=statuses, **data)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)


class _Allowed:
    """A read-only flag of ``Signed``: whether the user may do ``action`` (pages show or
    hide controls by it; the API checks again)."""

    def __init__(self, action: Action) -> None:
        self.action = action

    def __get__(self, me: Signed, owner: type[Signed] | None = None) -> bool:
        return allowed(me.who, self.action)


class Signed:
    """The signed-in user of a page: principal, and the session's CSRF token."""

    may_write = _Allowed(Action.NOTE_UPDATE)
    may_regenerate = _Allowed(Action.NOTE_REGENERATE)
    may_assign = _Allowed(Action.ROOM_ASSIGN)
    may_summarize = _Allowed(Action.SUMMARY_WRITE)
    sees_encounters = _Allowed(Action.ENCOUNTER_LIST)
    sees_audit = _Allowed(Action.AUDIT_READ)

    def __init__(self, who: Principal, session_id: str) -> None:
        self.who = who
        self.csrf = sessions.csrf_token(session_id)

    @property
    def may_claim(self) -> bool:
        return self.who.role is Role.CLINICIAN and allowed(self.who, Action.ENCOUNTER_CLAIM)

    @property
    def is_admin(self) -> bool:
        return self.who.role is Role.ADMIN


async def signed_in(request: Request, ctx: ApiContext) -> Signed | None:
    session_id = request.cookies.get(sessions.COOKIE)
    if not session_id:
        return None
    async with ctx.db.session() as session:
        token = await sessions.resolve(session, session_id, sessions.Lifetimes.of(ctx.settings))
        if token is None or token.role not in ROLES:
            return None
        who = Principal(
            token_id=token.id, name=token.name, role=Role(token.role),
            clinician_id=token.clinician_id,
        )  # fmt: skip
    return Signed(who, session_id)


def _home(me: Signed) -> str:
    return "/encounters" if me.sees_encounters else "/audit"


# Where sign-in may send the browser back to: a console page of ours, never elsewhere.
_NEXT = re.compile(
    r"^(/encounters(/[A-Za-z0-9_.:-]{1,64}(/summary)?)?|/account/password\?welcome=1)$"
)


def safe_next(value: str | None) -> str | None:
    return value if value and _NEXT.fullmatch(value) else None


def _signin_form(
    message: str | None, status: int = 200, next_page: str | None = None
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(24)
    response = render(
        "signin.html", status=status, message=message, form_nonce=nonce,
        next_page=safe_next(next_page),
    )  # fmt: skip
    response.set_cookie(
        sessions.SIGNIN_COOKIE, nonce, max_age=1800, httponly=True, samesite="strict",
        path="/signin",
    )  # fmt: skip
    return response


async def _start_session(
    request: Request, ctx: ApiContext, token: ApiToken, next_page: str | None = None
) -> Response:
    lifetimes = sessions.Lifetimes.of(ctx.settings)
    async with ctx.db.session() as session:
        session_id = await sessions.create(session, token.id, lifetimes)
        await repo.add_audit(
            session, actor=token.name, role=token.role, action=Action.CONSOLE_SIGNIN.value,
            source_ip=source_ip(request), status=200,
        )  # fmt: skip
    ctx.metrics.audit_rows.labels(Action.CONSOLE_SIGNIN.value).inc()
    me = Signed(
        Principal(token_id=token.id, name=token.name, role=Role(token.role),
                  clinician_id=token.clinician_id),
        session_id,
    )  # fmt: skip
    # Back to the page the ended session was on (the clinician's note), else home.
    response = redirect(safe_next(next_page) or _home(me))
    response.set_cookie(
        sessions.COOKIE, session_id, max_age=int(lifetimes.lifetime.total_seconds()),
        httponly=True, samesite="strict", secure=_secure(request, ctx), path="/",
    )  # fmt: skip
    response.delete_cookie(sessions.SIGNIN_COOKIE, path="/signin")
    return response


async def _live_token(ctx: ApiContext, token_hash: str) -> ApiToken | None:
    async with ctx.db.session() as session:
        token = await repo.find_token_by_hash(session, token_hash)
    if token is None or token.role not in ROLES:
        return None
    return token


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    ctx = get_ctx(request)
    me = await signed_in(request, ctx)
    if me is not None:
        return redirect(_home(me))
    expired = request.query_params.get("expired") == "1"
    message = (
        "Your session ended. Sign in again: your unsaved changes were kept." if expired else None
    )
    return _signin_form(message, next_page=request.query_params.get("next"))


async def form_fields(request: Request) -> dict[str, str]:
    """A small urlencoded form (the console's two forms), without python-multipart."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    # Never more than MAX_FORM_BYTES (+ one chunk) in memory: refuse by the declared
    # length before reading, else while reading.
    declared = declared_length(request.scope)
    if declared is not None and declared > MAX_FORM_BYTES:
        raise HTTPException(413, FORM_TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise HTTPException(413, FORM_TOO_LARGE)
    raw = b"".join(chunks)
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {}
    return dict(pairs)


async def _throttled(request: Request, ctx: ApiContext) -> Response | None:
    """429 while this address has too many failed sign-ins in the current window.

    Redis down: sign-in stays possible (clinicians must not be locked out by an outage);
    the failures are still audited in the database.
    """
    try:
        wait_s = await throttle.blocked_for(
            ctx.redis, ctx.names, throttle.SIGNIN, source_ip(request),
            ctx.settings.signin_max_failures,
        )  # fmt: skip
    except RedisError:
        log.warning("signin_throttle_unavailable")
        return None
    if wait_s is None:
        return None
    ctx.metrics.auth_failures.labels("throttled").inc()
    minutes = max(1, -(-wait_s // 60))
    response = _signin_form(TOO_MANY.format(minutes=minutes), status=429)
    response.headers["Retry-After"] = str(wait_s)
    return response


async def _failed_signin(
    request: Request, ctx: ApiContext, kind: str, message: str, next_page: str | None = None
) -> Response:
    """Count the failure against the address, audit and count it; the form again (401)."""
    ip = source_ip(request)
    try:
        await throttle.count_failure(
            ctx.redis, ctx.names, throttle.SIGNIN, ip, ctx.settings.signin_window_s
        )
    except RedisError:
        log.warning("signin_throttle_unavailable")
    ctx.metrics.auth_failures.labels(kind).inc()
    await audit_failure(ctx, Action.CONSOLE_SIGNIN, kind, ip)
    return _signin_form(message, status=401, next_page=next_page)


@router.post("/signin")
async def signin(request: Request) -> Response:
    ctx = get_ctx(request)
    if (refused := await _throttled(request, ctx)) is not None:
        return refused
    fields = await form_fields(request)
    token, form_nonce = fields.get("token", ""), fields.get("form_nonce", "")
    next_page = fields.get("next")
    expected = request.cookies.get(sessions.SIGNIN_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, form_nonce):
        return _signin_form(FORM_EXPIRED, status=403, next_page=next_page)
    if "password" in fields:  # the name-and-password form
        found = await _password_account(ctx, fields.get("name", ""), fields["password"])
        if found is None:
            return await _failed_signin(request, ctx, "signin", BAD_PASSWORD, next_page)
        return await _start_session(request, ctx, found, next_page)
    secret = token.strip()
    found = await _live_token(ctx, hash_token(secret)) if looks_like_token(secret) else None
    if found is None:
        return await _failed_signin(request, ctx, "signin", BAD_TOKEN, next_page)
    return await _start_session(request, ctx, found, next_page)


@functools.cache
def _decoy_hash() -> str:
    """Verified against when the name is unknown, so an unknown name costs the same time as
    a wrong password (the sign-in form does not tell which names exist). Made on first use:
    a scrypt hash at import slowed every process that imports the console (CLI included)."""
    return passwords.hash_password(secrets.token_urlsafe(16))


async def _password_account(ctx: ApiContext, name: str, password: str) -> ApiToken | None:
    name = name.strip()
    if not name or not password or len(password) > passwords.MAX_LENGTH:
        return None
    async with ctx.db.session() as session:
        token = await repo.find_token_by_name(session, name)
    stored = token.password_hash if token is not None else None
    ok = await asyncio.to_thread(passwords.verify, password, stored or _decoy_hash())
    if not ok or token is None or stored is None or token.role not in ROLES:
        return None
    return token


@router.get("/signin/link")
async def signin_link(request: Request) -> Response:
    """A one-time link from `medscribe demo`: the ticket is consumed on first use."""
    ctx = get_ctx(request)
    if (refused := await _throttled(request, ctx)) is not None:
        return refused
    ticket = request.query_params.get("ticket", "")
    grant = await sessions.redeem_link(ctx.redis, ctx.names, ticket) if ticket else None
    found = await _live_token(ctx, grant[0]) if grant else None
    if found is None or grant is None:
        return await _failed_signin(request, ctx, "signin_link", LINK_USED)
    # An administrator's personal link is the invite: without a password yet, its owner
    # chooses one next (the demo's link goes straight to the visits).
    invited = grant[1] and not found.password_hash
    next_page = "/account/password?welcome=1" if invited else None
    return await _start_session(request, ctx, found, next_page)


@router.post("/signout")
async def signout(request: Request) -> Response:
    ctx = get_ctx(request)
    csrf_token = (await form_fields(request)).get(sessions.CSRF_FIELD, "")
    session_id = request.cookies.get(sessions.COOKIE, "")
    me = await signed_in(request, ctx)
    if me is not None:
        if not sessions.csrf_ok(session_id, csrf_token):
            raise HTTPException(403, "missing or invalid CSRF token")
        async with ctx.db.session() as session:
            await sessions.end(session, session_id)
            await repo.add_audit(
                session, actor=me.who.name, role=me.who.role.value,
                action=Action.CONSOLE_SIGNOUT.value, source_ip=source_ip(request), status=200,
            )  # fmt: skip
        ctx.metrics.audit_rows.labels(Action.CONSOLE_SIGNOUT.value).inc()
    response = redirect("/signin")
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


def _page_or_signin(request: Request, back_to: str | None = None) -> str:
    target = "/signin?expired=1" if request.cookies.get(sessions.COOKIE) else "/signin"
    if back_to is not None:
        target += ("&" if "?" in target else "?") + "next=" + back_to
    return target


def _forbidden(me: Signed, message: str, status: int = 403) -> HTMLResponse:
    return render("error.html", status=status, me=me, message=message)


@router.get("/")
async def home(request: Request) -> Response:
    me = await signed_in(request, get_ctx(request))
    return redirect(_page_or_signin(request) if me is None else _home(me))


async def _page(
    request: Request, may: Callable[[Signed], bool], refusal: str, page: str, **data: Any
) -> Response:
    """Page ``page`` (its template ``<page>.html``) for a signed-in user ``may`` admits;
    sign-in first, or ``refusal`` (403)."""
    me = await signed_in(request, get_ctx(request))
    if me is None:
        return redirect(_page_or_signin(request))
    if not may(me):
        return _forbidden(me, refusal)
    return render(f"{page}.html", me=me, page=page, **data)


async def _encounter_refused(
    ctx: ApiContext, me: Signed, action: Action, encounter_id: str, refusal: str
) -> HTMLResponse | None:
    """None when ``me`` may ``action`` the encounter, else the page saying why: another
    clinician's encounter reads as unknown (404), like in the API; else ``refusal``."""
    try:
        async with ctx.db.session() as session:
            await check_encounter(session, me.who, action, encounter_id)
    except HTTPException as err:
        text = "No such encounter." if err.status_code == 404 else refusal
        return _forbidden(me, text, err.status_code)
    return None


@router.get("/encounters")
async def encounters_page(request: Request) -> Response:
    return await _page(
        request, lambda me: me.sees_encounters, "Your role may not see encounters.", "encounters"
    )


@router.get("/encounters/{encounter_id}")
async def encounter_page(encounter_id: EncounterIdPath, request: Request) -> Response:
    ctx = get_ctx(request)
    me = await signed_in(request, ctx)
    if me is None:
        return redirect(_page_or_signin(request, safe_next(f"/encounters/{encounter_id}")))
    refused = await _encounter_refused(
        ctx, me, Action.ENCOUNTER_READ, encounter_id, "Your role may not see encounters."
    )
    if refused is not None:
        return refused
    return render(
        "encounter.html", me=me, page="encounters", encounter_id=encounter_id,
        models=[(m, model_label(m)) for m in sorted(ctx.allowed_models)],
        default_model=ctx.settings.default_llm_model,
    )  # fmt: skip


@router.get("/encounters/{encounter_id}/summary")
async def summary_page(encounter_id: EncounterIdPath, request: Request) -> Response:
    """The patient's after-visit summary, laid out to print (the data comes from /v1)."""
    ctx = get_ctx(request)
    me = await signed_in(request, ctx)
    if me is None:
        next_page = safe_next(f"/encounters/{encounter_id}/summary")
        return redirect(_page_or_signin(request, next_page))
    refused = await _encounter_refused(
        ctx, me, Action.SUMMARY_READ, encounter_id, "Your role may not see this."
    )
    if refused is not None:
        return refused
    return render("summary.html", me=me, page="encounters", encounter_id=encounter_id)


@router.get("/admin/tokens")
async def tokens_page(request: Request) -> Response:
    return await _page(
        request, lambda me: me.is_admin, "Only admins manage tokens.", "tokens",
        roles=[r.value for r in Role],
    )  # fmt: skip


@router.get("/admin/rooms")
async def rooms_page(request: Request) -> Response:
    return await _page(
        request, lambda me: me.is_admin, "Only admins manage exam rooms' credentials.", "rooms"
    )


@router.get("/audit")
async def audit_page(request: Request) -> Response:
    return await _page(
        request, lambda me: me.sees_audit, "Only auditors and admins read the audit log.", "audit"
    )
