"""Health, readiness and metrics endpoints of the notes service.

``health_router`` is a FastAPI router the staff API mounts; ``serve_health`` runs it on
its own port (``MEDSCRIBE_HEALTH_PORT``) for deployments that keep probes off the API, and
for a process without the api role (``medscribe notes run --role ingest``), whose only
probe it is. Such a process's answers name its roles (``"roles": "ingest"``), and its
/metrics and warnings are those of the parts it runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse

from services.notes.db.engine import Database
from services.notes.db.migrate import schema_behind
from services.notes.metrics import NotesMetrics
from services.notes.serve import serve
from shared.readiness import GatewayKeyWatch

PROBE_TIMEOUT_S = 2.0


async def _probe(check: Any) -> str | None:
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT_S)
        return None
    except Exception as err:  # noqa: BLE001 - any failure means "not ready", named by class
        return type(err).__name__


async def _schema(db: Database) -> str | None:
    try:
        return await asyncio.wait_for(schema_behind(db), PROBE_TIMEOUT_S)
    except Exception as err:  # noqa: BLE001 - any failure means "not ready", named by class
        return type(err).__name__


def health_router(
    db: Database,
    redis: aioredis.Redis,
    metrics: NotesMetrics,
    gateway_key: GatewayKeyWatch | None = None,
    *,
    roles: str | None = None,
) -> APIRouter:
    """``roles``: the process's roles when it runs only some (named in every answer;
    None: all of them, and the answers are as they always were);
    ``gateway_key`` only where a running part calls the LLM Gateway."""
    router = APIRouter(tags=["operations"])
    named = {"roles": roles} if roles else {}

    @router.get("/healthz", summary="The process is alive (no dependencies checked).")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", **named}

    @router.get("/readyz", summary="The database (at the code's schema) and Redis answer.")
    async def readyz() -> JSONResponse:
        db_err, redis_err = await asyncio.gather(_probe(db.ping()), _probe(redis.ping()))
        body = {
            "status": "ok" if not (db_err or redis_err) else "unavailable",
            "database": db_err or "ok",
            "redis": redis_err or "ok",
            **named,
        }
        if gateway_key is not None and gateway_key.rejected:
            body["status"], body["llm_gateway"] = "unavailable", "key_rejected"
        if db_err is None:
            behind = await _schema(db)
            if behind is not None:
                body["status"], body["database"] = "unavailable", behind
        if metrics.warnings:  # ready, but someone should look (Redis budget, dead letters)
            body["warnings"] = ", ".join(metrics.warnings)
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @router.get("/metrics", summary="Prometheus metrics.")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return router


async def serve_health(app_router: APIRouter, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve the router until ``stop``."""
    app = FastAPI(title="medscribe notes health", docs_url=None, redoc_url=None)
    app.include_router(app_router)
    await serve(app, host, port, stop, name="health")
