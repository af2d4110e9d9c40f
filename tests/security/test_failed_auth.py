"""Issue 20 item 8: failed authentication is audited and counted; sign-in is throttled."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from services.notes.api import console_sessions as sessions
from services.notes.api import throttle
from services.notes.api.app import create_app
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from services.notes.db.models import AuditEntry
from shared.streams import make_redis
from tests.api.seeding import add_encounter, add_token, bearer
from tests.kit.console import sign_in


async def _failures(db: Database) -> list[tuple[str, str | None, str, str | None, int]]:
    async with db.session() as s:
        rows = (
            await s.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.in_(("auth.failed", "console.signin")))
                .order_by(AuditEntry.id)
            )
        ).all()
    return [(r.actor, r.target, r.action, r.source_ip, r.status) for r in rows]


def _metric(text: str, kind: str) -> float:
    line = next(
        (row for row in text.splitlines()
         if row.startswith(f'medscribe_api_auth_failures_total{{kind="{kind}"}}')),
        None,
    )  # fmt: skip
    return float(line.split()[-1]) if line else 0.0


async def test_refused_credentials_are_audited_without_secrets(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db)
    revoked = await add_token(db, "old", "admin", revoked=True)
    url = f"/v1/encounters/{enc.encounter_id}"
    unknown = "ms_" + "Q" * 43
    attempts = [
        {"Authorization": "Bearer not-a-token"},
        bearer(unknown),
        bearer(revoked),
        {"Authorization": "Basic YWRtaW46c2VjcmV0"},
    ]
    for headers in attempts:
        assert (await client.get(url, headers=headers)).status_code == 401
    client.cookies.set(sessions.COOKIE, sessions.new_session_id())  # an ended session
    assert (await client.get(url)).status_code == 401
    client.cookies.clear()
    ticket = await client.get(f"{url}/events?ticket=st_forged")
    assert ticket.status_code == 401
    assert (await client.get(url)).status_code == 401  # no credential at all: counted only

    rows = await _failures(db)
    expected = ("(unknown)", "auth.failed", "10.1.2.3", 401)
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [expected] * 6
    assert [r[1] for r in rows] == ["bearer"] * 4 + ["session", "ticket"]
    assert unknown not in str(rows)
    assert revoked not in str(rows)
    metrics = (await client.get("/metrics")).text
    assert _metric(metrics, "bearer") == 4
    assert _metric(metrics, "session") == 1
    assert _metric(metrics, "ticket") == 1
    assert _metric(metrics, "missing") == 1


async def test_a_flood_of_bad_tokens_cannot_flood_the_audit_log(
    client: httpx.AsyncClient, db: Database
) -> None:
    for _ in range(throttle.API_AUDIT_LIMIT + 5):
        r = await client.get("/v1/encounters", headers=bearer("ms_" + "Z" * 43))
        assert r.status_code == 401
    assert len(await _failures(db)) == throttle.API_AUDIT_LIMIT
    assert _metric((await client.get("/metrics")).text, "bearer") == throttle.API_AUDIT_LIMIT + 5


async def test_sign_in_is_throttled_per_address(
    settings: NotesSettings, db: Database, redis: Any, tokens: dict[str, str]
) -> None:
    app = create_app(settings.model_copy(update={"signin_max_failures": 3}), db, redis)

    def client_from(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://api.test")

    async with client_from("10.0.0.66") as guesser, client_from("10.0.0.7") as colleague:
        for i in range(3):
            r = await sign_in(guesser, "ms_" + str(i) * 43)
            assert r.status_code == 401
        # Over the limit: refused before the token is even looked at, a right one too.
        form = await guesser.get("/signin")
        nonce = sessions.SIGNIN_COOKIE
        assert nonce in guesser.cookies
        blocked = await guesser.post(
            "/signin",
            data={"token": tokens["admin"], "form_nonce": guesser.cookies[nonce]},
        )
        assert form.status_code == 200
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["retry-after"]) <= settings.signin_window_s
        assert "Too many failed sign-ins" in blocked.text
        assert sessions.COOKIE not in guesser.cookies
        link = await guesser.get("/signin/link?ticket=sl_whatever")
        assert link.status_code == 429
        # Another address is not affected.
        assert (await sign_in(colleague, tokens["admin"])).status_code == 303
    rows = await _failures(db)
    assert rows == [("(unknown)", "signin", "console.signin", "10.0.0.66", 401)] * 3 + [
        ("admin", None, "console.signin", "10.0.0.7", 200)
    ]


async def test_sign_in_still_works_while_redis_is_down(
    settings: NotesSettings, db: Database, tokens: dict[str, str]
) -> None:
    """The throttle lives in Redis; an outage must not lock the clinicians out."""
    dead: Any = make_redis("redis://127.0.0.1:1/0")
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}), db, dead)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.8", 1))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            assert (await sign_in(client, "ms_" + "k" * 43)).status_code == 401
            assert (await sign_in(client, tokens["clin-a"])).status_code == 303
    finally:
        await dead.aclose()
    rows = await _failures(db)
    assert rows[0] == ("(unknown)", "signin", "console.signin", "10.0.0.8", 401)
