"""Issue 20 item 7: /docs and /redoc (CDN scripts) are off unless enabled, and carry a CSP."""

from __future__ import annotations

from typing import Any

import httpx

from services.notes.api.app import create_app
from services.notes.config import NotesSettings
from services.notes.db.engine import Database


async def _get(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        return await client.get(path)


async def test_docs_are_off_by_default(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert "cdn.jsdelivr.net" not in r.text
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    assert "/v1/encounters" in spec.json()["paths"]


async def test_enabled_docs_carry_a_csp(settings: NotesSettings, db: Database, redis: Any) -> None:
    app = create_app(settings.model_copy(update={"api_docs": True}), db, redis)
    for path in ("/docs", "/redoc"):
        r = await _get(app, path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "connect-src 'self'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_the_setting_reads_the_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("MEDSCRIBE_API_DOCS", "true")
    assert NotesSettings().api_docs is True
    monkeypatch.delenv("MEDSCRIBE_API_DOCS")
    assert NotesSettings().api_docs is False
