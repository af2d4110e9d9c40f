"""shared/health.py over real HTTP: liveness, readiness callback outcomes, metrics."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry, Counter

from shared.health import HealthServer


async def test_health_ready_and_metrics() -> None:
    registry = CollectorRegistry()
    Counter("ms_test_things", "Things seen.", registry=registry).inc(3)
    state = {"ready": False}

    async def ready() -> bool:
        return state["ready"]

    server = await HealthServer("127.0.0.1", 0, ready=ready, registry=registry).start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["status"] == "not_ready"
            state["ready"] = True
            assert (await http.get("/readyz")).status_code == 200
            metrics = await http.get("/metrics")
            assert "ms_test_things_total 3.0" in metrics.text
    finally:
        await server.close()


async def test_readiness_check_that_raises_or_hangs_is_not_ready() -> None:
    def boom() -> bool:
        raise RuntimeError("secret detail")

    async def hang() -> bool:
        await asyncio.sleep(30)
        return True

    for check, reason in ((boom, "RuntimeError"), (hang, "check_timeout")):
        server = await HealthServer("127.0.0.1", 0, ready=check, ready_timeout_s=0.2).start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
                resp = await http.get("/readyz")
            assert resp.status_code == 503
            assert resp.json()["reason"] == reason
            assert "secret" not in resp.text
        finally:
            await server.close()
