"""Bridge readiness against the STT simulator: a rejected key is named, and finding out
costs no streaming session (the only thing AssemblyAI bills)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from shared.contracts import StreamNames
from simulators.stt_server import SttSimulator
from tests.bridge.helpers import bridge_settings, running_bridge
from tests.helpers.procs import free_port


async def _readyz(port: int) -> httpx.Response:
    """The first answer of /readyz (the health server starts with the bridge)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        for _ in range(200):
            try:
                return await http.get("/readyz")
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise AssertionError("the bridge's health server never answered")


async def test_rejected_stt_key_is_the_one_reason(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    port = free_port()
    settings = bridge_settings(
        redis_url, names, sim.url, health_port=port, assemblyai_api_key="wrong-key"
    )
    async with running_bridge(settings):
        resp = await _readyz(port)
    assert resp.status_code == 503
    assert resp.json() == {"status": "not_ready", "reason": "stt_key_rejected"}
    assert "wrong-key" not in resp.text
    assert sim.stats.sessions_opened == 0
    assert sim.stats.tokens_issued == 0

    port = free_port()
    settings = bridge_settings(redis_url, names, sim.url, health_port=port)
    async with running_bridge(settings):
        resp = await _readyz(port)
    assert resp.json() == {"status": "ready"}
    assert sim.stats.sessions_opened == 0  # a token was asked for, no session opened
    assert sim.stats.tokens_issued == 1
