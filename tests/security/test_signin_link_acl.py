"""Issue 19 item 4: a console sign-in link works when the notes API runs as the production
`notes` Redis user (deploy/users.acl), as it does under compose: issued, redeemed once."""

from __future__ import annotations

from pathlib import Path

import httpx

from services.notes.api import console_sessions as sessions
from services.notes.api.app import create_app
from services.notes.auth import hash_token
from services.notes.db.engine import Database
from shared.contracts import StreamNames
from shared.streams import make_redis
from tests.api.seeding import add_token
from tests.helpers.acl import PROD_PREFIX, AclRedis
from tests.kit.api import make_settings
from tests.kit.api_fixtures import db, sqlite_url  # noqa: F401


async def test_signin_link_as_the_notes_user(
    acl_redis: AclRedis,
    db: Database,  # noqa: F811
    sqlite_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = acl_redis.url("notes")
    names = StreamNames(PROD_PREFIX)
    settings = make_settings(sqlite_url, url, names, tmp_path / "exports")
    secret = await add_token(db, "front-desk", "staff")
    redis = make_redis(url)
    try:
        ticket = await sessions.issue_link(redis, names, hash_token(secret), 60)
        app = create_app(settings, db, redis)
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            first = await http.get(f"/signin/link?ticket={ticket}")
            assert first.status_code == 303, first.text
            assert sessions.COOKIE in first.cookies
            http.cookies.clear()
            again = await http.get(f"/signin/link?ticket={ticket}")
            assert again.status_code == 401
    finally:
        await redis.aclose()
