"""Issue 19, left item 5: the console's Rooms admin API, run by the notes service with the
Redis admin URL on the production ACLs: an admin lists, adds (password shown once) and
revokes rooms; every call is audited with the room name only; other roles are refused;
without the admin URL the endpoints say in one sentence what is missing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis as sync_redis
from pydantic import SecretStr
from redis.exceptions import AuthenticationError, ConnectionError
from sqlalchemy import select

from services.notes.api.app import create_app
from services.notes.db.engine import Database
from services.notes.db.models import AuditEntry
from shared.streams import make_redis
from tests.api.seeding import add_role_tokens, bearer
from tests.helpers.acl import AclRedis
from tests.rooms.room_fixtures import gate_settings, room_url


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    await database.create_all()
    yield database
    await database.dispose()


async def client_for(
    acl: AclRedis, tmp_path: Path, db: Database, with_admin: bool
) -> tuple[httpx.AsyncClient, object]:
    extra = {"redis_admin_url": SecretStr(acl.admin_url)} if with_admin else {}
    settings = gate_settings(acl, tmp_path, database_url=db.url, **extra)
    redis = make_redis(settings.redis_url)
    app = create_app(settings, db, redis)
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://api.test"), redis


async def test_rooms_admin_api(acl_redis: AclRedis, tmp_path: Path, db: Database) -> None:
    tokens = await add_role_tokens(db)
    client, redis = await client_for(acl_redis, tmp_path, db, with_admin=True)
    admin = bearer(tokens["admin"])
    try:
        made = await client.post("/v1/admin/rooms", json={"name": "exam-7"}, headers=admin)
        assert made.status_code == 201, made.text
        body = made.json()
        assert (body["name"], body["user"], body["active"]) == ("exam-7", "room-exam-7", True)
        password = body["password"]
        with sync_redis.Redis.from_url(room_url(acl_redis, "exam-7", password)) as room:
            assert room.ping()  # the credentials work, as the room's own user

        again = await client.post("/v1/admin/rooms", json={"name": "exam-7"}, headers=admin)
        assert again.status_code == 409
        bad = await client.post("/v1/admin/rooms", json={"name": "Exam.7"}, headers=admin)
        assert bad.status_code == 422
        assert "no dots" in bad.json()["detail"]
        for role in ("staff", "clin-a", "auditor"):
            refused = await client.post(
                "/v1/admin/rooms", json={"name": "exam-8"}, headers=bearer(tokens[role])
            )
            assert refused.status_code == 403

        listed = await client.get("/v1/admin/rooms", headers=admin)
        assert listed.status_code == 200
        assert [(r["name"], r["active"]) for r in listed.json()["items"]] == [("exam-7", True)]
        assert password not in listed.text

        gone = await client.delete("/v1/admin/rooms/exam-7", headers=admin)
        assert gone.status_code == 200, gone.text
        with (
            pytest.raises((AuthenticationError, ConnectionError)),
            sync_redis.Redis.from_url(room_url(acl_redis, "exam-7", password)) as room,
        ):
            room.ping()
        missing = await client.delete("/v1/admin/rooms/exam-7", headers=admin)
        assert missing.status_code == 404
        assert (await client.get("/v1/admin/rooms", headers=admin)).json()["items"] == []
    finally:
        await client.aclose()
        await redis.aclose()  # type: ignore[attr-defined]

    async with db.session() as s:
        rows = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    audit = [(r.actor, r.action, r.target, r.status) for r in rows]
    assert ("admin", "room.credentials.add", "room=exam-7", 201) in audit
    assert ("admin", "room.credentials.add", None, 409) in audit  # refusals: no target
    assert ("staff", "room.credentials.add", None, 403) in audit
    assert ("admin", "room.credentials.revoke", "room=exam-7", 200) in audit
    assert ("admin", "room.credentials.revoke", None, 404) in audit
    assert ("admin", "room.credentials.list", "count=1", 200) in audit
    assert all(password not in str(r) for r in audit)


async def test_without_the_admin_url_the_endpoints_say_so(
    acl_redis: AclRedis, tmp_path: Path, db: Database
) -> None:
    tokens = await add_role_tokens(db)
    client, redis = await client_for(acl_redis, tmp_path, db, with_admin=False)
    try:
        for method, path, body in (
            ("GET", "/v1/admin/rooms", None),
            ("POST", "/v1/admin/rooms", {"name": "exam-7"}),
            ("DELETE", "/v1/admin/rooms/exam-7", None),
        ):
            resp = await client.request(method, path, json=body, headers=bearer(tokens["admin"]))
            assert resp.status_code == 503
            assert "MEDSCRIBE_REDIS_ADMIN_URL" in resp.json()["detail"]
    finally:
        await client.aclose()
        await redis.aclose()  # type: ignore[attr-defined]
    with sync_redis.Redis.from_url(acl_redis.admin_url) as check:
        assert [u for u in check.acl_users() if str(u).startswith("room-")] == []
