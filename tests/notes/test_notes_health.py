"""Health, readiness (database and Redis) and metrics of a running notes service."""

from __future__ import annotations

from pathlib import Path

import httpx

from services.notes.db.engine import Database
from shared.contracts import StreamNames
from shared.gateway import GatewayClient
from shared.streams import make_redis
from simulators.llm_server import LlmSimulator
from tests.helpers.procs import RedisServer, free_port
from tests.kit.factories import visit_messages
from tests.kit.notes import encounter_status, notes_settings, publish_shuffled, running_notes
from tests.kit.waiting import eventually


async def test_health_readiness_and_metrics(
    db: Database,
    private_redis: RedisServer,
    names: StreamNames,
    tmp_path: Path,
    gateway: GatewayClient,
) -> None:
    port = free_port()
    redis = make_redis(private_redis.url)
    settings = notes_settings(db, names, tmp_path, health_port=port)
    control, turns = visit_messages(
        "h-1", ["How is the cough, any fever since Monday?", "It started last week."]
    )
    await publish_shuffled(redis, names, control, turns)
    base = f"http://127.0.0.1:{port}"
    try:
        async with (
            running_notes(settings, db, redis, gateway),
            httpx.AsyncClient(base_url=base, timeout=10) as http,
        ):

            async def serving() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(serving)
            await eventually(lambda: _ready_note(db))
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok"}

            async def counted() -> bool:
                text = (await http.get("/metrics")).text
                return 'medscribe_notes_encounters{status="ready"} 1.0' in text

            await eventually(counted)
            text = (await http.get("/metrics")).text
            assert "medscribe_notes_stop_to_note_seconds_count 1.0" in text
            assert 'medscribe_notes_notes_written_total{status="draft"} 1.0' in text
            assert "h-1" not in text  # no identifiers in metrics

            private_redis.kill()
            down = await http.get("/readyz")
            assert down.status_code == 503
            assert down.json()["database"] == "ok"
            assert down.json()["redis"] != "ok"
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await redis.aclose()


async def _ready_note(db: Database) -> bool:
    return await encounter_status(db, "h-1") == "ready"


async def test_readiness_names_a_rejected_gateway_key(
    db: Database,
    redis_url: str,
    names: StreamNames,
    tmp_path: Path,
    gateway: GatewayClient,
    llm_sim: LlmSimulator,
) -> None:
    """The SOAP request is the first use of the key: from its 401 on, /readyz says so."""
    llm_sim.config.api_keys = ("another-key",)
    port = free_port()
    redis = make_redis(redis_url)
    settings = notes_settings(db, names, tmp_path, health_port=port)
    control, turns = visit_messages("k-1", ["How is the cough?", "Better, thank you."])
    try:
        async with (
            running_notes(settings, db, redis, gateway),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
        ):

            async def answer() -> httpx.Response | None:
                try:
                    return await http.get("/readyz")
                except httpx.TransportError:
                    return None

            async def serving() -> bool:
                return await answer() is not None

            await eventually(serving)
            first = await answer()
            assert first is not None
            assert first.status_code == 200  # the key is unknown until it is used
            await publish_shuffled(redis, names, control, turns)

            async def rejected() -> bool:
                resp = await answer()
                return resp is not None and resp.json().get("llm_gateway") == "key_rejected"

            await eventually(rejected)
            resp = await answer()
            assert resp is not None
            assert resp.status_code == 503
            assert "sim-key" not in resp.text
    finally:
        await redis.aclose()
