"""Liveness, readiness and Prometheus metrics (no authentication, no patient data)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.notes.api.deps import Ctx
from services.notes.api.schemas import Health, Readiness
from services.notes.db.migrate import schema_behind

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The database (at the code's schema) and Redis answer",
    responses={503: {"model": Readiness, "description": "A dependency does not answer."}},
)
async def readyz(ctx: Ctx) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, probe in (("database", ctx.db.ping()), ("redis", ctx.redis.ping())):
        try:
            await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as err:  # noqa: BLE001 - any failure means "not ready"
            checks[name] = f"error: {type(err).__name__}"
    if checks["database"] == "ok":
        try:
            behind = await asyncio.wait_for(schema_behind(ctx.db), CHECK_TIMEOUT_S)
            checks["schema"] = behind or "ok"
        except Exception as err:  # noqa: BLE001 - any failure means "not ready"
            checks["schema"] = f"error: {type(err).__name__}"
    if ctx.gateway_key is not None:
        checks["llm_gateway"] = "key_rejected" if ctx.gateway_key.rejected else "ok"
    ok = all(v == "ok" for v in checks.values())
    body = Readiness(status="ok" if ok else "unavailable", checks=checks)
    if ctx.service_metrics is not None and ctx.service_metrics.warnings:
        body.warnings = list(ctx.service_metrics.warnings)  # ready, but someone should look
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(ctx: Ctx) -> Response:
    text = generate_latest(ctx.metrics.registry)
    if ctx.service_metrics is not None:
        text += generate_latest(ctx.service_metrics.registry)
    return Response(text, media_type=CONTENT_TYPE_LATEST)
