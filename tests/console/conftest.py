"""Fixtures of the web console tests: the staff API app (real database, real Redis) and
helpers to sign in through the console's own forms."""

from __future__ import annotations

import re

import httpx

# The staff API's fixtures: settings, db, app, client (ASGI), tokens.
from tests.api.conftest import app, client, db, settings, sqlite_url, tokens  # noqa: F401

NONCE_RE = re.compile(r'name="form_nonce" value="([^"]+)"')


async def sign_in(http: httpx.AsyncClient, secret: str) -> httpx.Response:
    """GET the sign-in form, POST the token with its nonce; returns the POST's response."""
    form = await http.get("/signin")
    assert form.status_code == 200
    match = NONCE_RE.search(form.text)
    assert match is not None
    return await http.post("/signin", data={"token": secret, "form_nonce": match.group(1)})


def csrf_of(page_html: str) -> str:
    match = re.search(r'data-csrf="([0-9a-f]{64})"', page_html)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)
