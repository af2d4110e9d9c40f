"""The staff API application: ``create_app(settings, db, redis)``.

Clients are injected (the notes service passes its own database and Redis), so the same
factory serves production, ``medscribe notes run`` and the tests.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import shared
from services.notes.api import api_docs, errors, proxies
from services.notes.api.body_limit import BodyLimitMiddleware
from services.notes.api.console import account, room_live
from services.notes.api.console import routes as console
from services.notes.api.deps import ApiContext
from services.notes.api.observe import ApiMetrics, RequestLogMiddleware
from services.notes.api.routers import (
    admin,
    drafts,
    encounters,
    export,
    health,
    notes,
    purge,
    room_credentials,
    rooms,
    speakers,
    summary,
)
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from services.notes.metrics import NotesMetrics
from services.notes.soap import ChatClient
from shared.contracts import StreamNames
from shared.readiness import GatewayKeyWatch
from shared.settings import DEFAULT_LLM_MODELS
from shared.streams import make_redis

# A full SOAP note is a few kB; 1 MiB leaves room and stops abuse.
MAX_BODY_BYTES = 1024 * 1024

DESCRIPTION = """
The medscribe staff API: encounters, transcripts and SOAP notes.

Authenticate with `Authorization: Bearer ms_…` (tokens come from
`medscribe notes token create`). Roles: **clinician** (own encounters: read, edit, sign,
regenerate), **staff** (read all), **admin** (read all, regenerate, tokens, audit log;
never edits or signs a note),
**auditor** (audit log only). Every read or change of patient data is audited.
"""


def create_app(
    settings: NotesSettings,
    db: Database,
    redis: Any,
    *,
    sse_heartbeat_s: float = 15.0,
    sse_poll_s: float = 1.0,
    max_body_bytes: int = MAX_BODY_BYTES,
    service_metrics: NotesMetrics | None = None,
    gateway: ChatClient | None = None,
    gateway_key: GatewayKeyWatch | None = None,
) -> FastAPI:
    """Build the FastAPI app around the given database and Redis client."""
    metrics = ApiMetrics()
    app = FastAPI(
        title="medscribe staff API",
        version=shared.__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ApiContext(
        settings=settings,
        db=db,
        redis=redis,
        names=StreamNames(settings.stream_prefix),
        metrics=metrics,
        allowed_models=frozenset({*DEFAULT_LLM_MODELS, settings.default_llm_model}),
        sse_heartbeat_s=sse_heartbeat_s,
        sse_poll_s=sse_poll_s,
        trusted_proxies=proxies.parse_networks(settings.trusted_proxies),
        live_redis=make_redis(
            settings.redis_url,
            block_ms=max(int(sse_poll_s * 1000), 10),
            max_connections=settings.live_max_total,
        ),
        service_metrics=service_metrics,
        redis_admin=(
            make_redis(settings.redis_admin_url.get_secret_value())
            if settings.redis_admin_url is not None
            else None
        ),
        gateway=gateway,
        gateway_key=gateway_key,
    )
    errors.install(app)
    # Our own limit (FastAPI's max_body_size= is not in every version we allow); inside
    # the request log, so refusals are logged and counted like any answer.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(RequestLogMiddleware, metrics=metrics)
    for module in (
        encounters, notes, drafts, speakers, summary, export, admin, purge, rooms,
        room_credentials, health,
    ):  # fmt: skip
        app.include_router(module.router)
    # The web console: same process, same port, same rules (it calls /v1 itself).
    app.include_router(console.router)
    app.include_router(account.router)
    app.include_router(room_live.router)  # a room's browser: its own visit, nothing else
    app.mount("/static", StaticFiles(directory=console.STATIC_DIR), name="static")
    if settings.api_docs:
        app.include_router(api_docs.router)
    return app


def context(app: FastAPI) -> ApiContext:
    ctx: ApiContext = app.state.ctx
    return ctx
