"""Audit log queries, the PHI-free request log and metrics, health and readiness."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notes.api.app import create_app
from services.notes.db.engine import Database
from shared.contracts import StreamNames
from shared.logging import configure_logging
from shared.streams import make_redis
from tests.api.seeding import add_encounter, bearer
from tests.kit.api import make_settings

CANARY = "Quokka-canary-5521"


async def test_audit_query_filters_pages_and_audits_itself(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    one = await add_encounter(db)
    two = await add_encounter(db)
    for eid in (one.encounter_id, two.encounter_id, one.encounter_id):
        await client.get(f"/v1/encounters/{eid}/note", headers=bearer(tokens["staff"]))
    auditor = bearer(tokens["auditor"])
    r = await client.get(f"/v1/audit?encounter_id={one.encounter_id}", headers=auditor)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(i["actor"], i["action"], i["target"]) for i in items] == [
        ("staff", "note.read", "v1"),
        ("staff", "note.read", "v1"),
    ]
    # Paging: newest first, then older, no overlap, no repeats.
    ids: list[int] = []
    cursor = ""
    while True:
        page = await client.get(
            f"/v1/audit?limit=2&actor=staff{'&cursor=' + cursor if cursor else ''}",
            headers=auditor,
        )
        body = page.json()
        ids += [i["id"] for i in body["items"]]
        if body["next_cursor"] is None:
            break
        cursor = body["next_cursor"]
    assert len(ids) == 3
    assert ids == sorted(ids, reverse=True)
    # The audit queries themselves are in the log.
    r = await client.get("/v1/audit?action=audit.read", headers=auditor)
    reads = r.json()["items"]
    assert len(reads) >= 3
    assert all(i["actor"] == "auditor" for i in reads)
    since = await client.get("/v1/audit?since=2999-01-01T00:00:00Z", headers=auditor)
    assert since.json()["items"] == []


@pytest.fixture
def captured_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging("DEBUG", "json", "notes-test", stream=out)
    yield out
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


async def test_request_log_and_metrics_carry_no_phi(
    captured_log: io.StringIO,
    client: httpx.AsyncClient,
    db: Database,
    tokens: dict[str, str],
) -> None:
    enc = await add_encounter(db, note_text_extra=f"Discussed {CANARY} with the patient.")
    staff = bearer(tokens["staff"])
    hit = await client.get(f"/v1/encounters?q={CANARY}", headers=staff)
    assert [e["id"] for e in hit.json()["items"]] == [enc.encounter_id]
    await client.get(f"/v1/encounters/{enc.encounter_id}/note", headers=staff)
    await client.put(
        f"/v1/encounters/{enc.encounter_id}/note",
        json={"sections": {"plan": [CANARY + "\x00"]}},
        headers={**bearer(tokens["clin-a"]), "If-Match": '"v1"'},
    )
    await client.get(f"/v1/encounters?room={CANARY}%00", headers=staff)
    metrics = await client.get("/metrics")
    text = captured_log.getvalue()
    assert CANARY not in text
    assert CANARY not in metrics.text
    assert enc.encounter_id not in metrics.text  # route templates, not ids, label metrics
    requests = [json.loads(line) for line in text.splitlines() if '"api_request"' in line]
    paths = {(r["method"], r["path"], r["status_code"]) for r in requests}
    assert ("GET", "/v1/encounters", 200) in paths
    assert ("GET", "/v1/encounters/{encounter_id}/note", 200) in paths
    assert ("PUT", "/v1/encounters/{encounter_id}/note", 422) in paths
    assert all(isinstance(r["duration_ms"], float) for r in requests)
    assert 'route="/v1/encounters/{encounter_id}/note"' in metrics.text
    assert "medscribe_api_audit_rows_total" in metrics.text


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "schema": "ok"}
    # The interactive docs are off unless enabled (issue 20); the schema is always there.
    assert (await client.get("/docs")).status_code == 404
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/encounters/{encounter_id}/note/sign" in spec["paths"]


async def test_not_ready_when_redis_is_down(
    db: Database, names: StreamNames, tmp_path: Path, sqlite_url: str
) -> None:
    dead: Any = make_redis("redis://127.0.0.1:1/0")
    app = create_app(make_settings(sqlite_url, "redis://127.0.0.1:1/0", names, tmp_path), db, dead)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/readyz")
    await dead.aclose()
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"
    assert r.json()["checks"]["database"] == "ok"
    assert r.json()["checks"]["redis"].startswith("error: ")


async def test_not_ready_when_the_schema_is_behind_the_code(
    names: StreamNames, tmp_path: Path, redis_url: str
) -> None:
    """A database one migration behind (e.g. restored from an older backup while notes
    runs) is named; after `medscribe notes migrate` the service is ready again."""
    from alembic.script import ScriptDirectory

    from services.notes.db.migrate import alembic_config, head_revision, upgrade_async

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head_revision())
    assert isinstance(previous.down_revision, str)
    await upgrade_async(url, previous.down_revision)
    db = Database(url)
    redis: Any = make_redis(redis_url)
    app = create_app(make_settings(url, redis_url, names, tmp_path), db, redis)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            behind = await client.get("/readyz")
            await upgrade_async(url)
            current = await client.get("/readyz")
    finally:
        await redis.aclose()
        await db.dispose()
    assert behind.status_code == 503
    assert behind.json()["checks"] == {
        "database": "ok",
        "redis": "ok",
        "schema": "migrations_behind",
    }
    assert current.status_code == 200
    assert current.json()["checks"]["schema"] == "ok"


async def test_not_ready_while_the_gateway_rejects_the_key(
    db: Database, names: StreamNames, tmp_path: Path, sqlite_url: str, redis_url: str
) -> None:
    from shared.gateway_types import AttemptEvent
    from shared.readiness import GatewayKeyWatch

    watch = GatewayKeyWatch()
    redis: Any = make_redis(redis_url)
    settings = make_settings(sqlite_url, redis_url, names, tmp_path)
    app = create_app(settings, db, redis, gateway_key=watch)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/readyz")).json()["checks"]["llm_gateway"] == "ok"
            watch.observe(AttemptEvent("m", 1, 401, "unauthorized", "fail", 0.1, None))
            r = await client.get("/readyz")
    finally:
        await redis.aclose()
    assert r.status_code == 503
    assert r.json()["checks"]["llm_gateway"] == "key_rejected"
