"""Issue 20 item 5: forwarded headers only from trusted proxies, the real client in the
audit log, and a Secure console cookie whenever the client is not on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from services.notes.api import console_sessions as sessions
from services.notes.api import proxies
from services.notes.api.app import create_app
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from services.notes.db.models import AuditEntry
from tests.api.seeding import bearer
from tests.kit.console import NONCE_RE


def _client(app: Any, peer: str, scheme: str = "http") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://api.test")


async def _last_ip(db: Database) -> str | None:
    async with db.session() as s:
        row = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()))).first()
    assert row is not None
    return row.source_ip


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        ("", "203.0.113.9", "10.1.2.3"),  # no proxy configured: the header is ignored
        ("10.1.2.3", "203.0.113.9", "203.0.113.9"),
        ("10.1.2.0/24", "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # right-most wins
        ("10.1.2.3,172.18.0.0/16", "203.0.113.9, 172.18.0.5", "203.0.113.9"),  # proxy chain
        ("10.1.2.3", "not-an-address", "10.1.2.3"),
        ("192.0.2.1", "203.0.113.9", "10.1.2.3"),  # from an untrusted peer
    ],
)
async def test_audit_records_the_real_client(
    settings: NotesSettings, db: Database, redis: Any, tokens: dict[str, str],
    trusted: str, forwarded: str, expected: str,
) -> None:  # fmt: skip
    app = create_app(settings.model_copy(update={"trusted_proxies": trusted}), db, redis)
    async with _client(app, "10.1.2.3") as client:
        r = await client.get(
            "/v1/encounters", headers={**bearer(tokens["staff"]), "X-Forwarded-For": forwarded}
        )
        assert r.status_code == 200
    assert await _last_ip(db) == expected


async def _session_cookie(client: httpx.AsyncClient, secret: str, **headers: str) -> str:
    form = await client.get("/signin", headers=headers)
    match = NONCE_RE.search(form.text)
    assert match is not None
    done = await client.post(
        "/signin", data={"token": secret, "form_nonce": match.group(1)}, headers=headers
    )
    assert done.status_code == 303, done.text
    return next(
        h for h in done.headers.get_list("set-cookie") if h.startswith(sessions.COOKIE + "=")
    )


def _is_secure(cookie: str) -> bool:
    return "secure" in {a.strip().lower() for a in cookie.split(";")[1:]}


@pytest.mark.parametrize(
    ("peer", "scheme", "trusted", "headers", "configured", "secure"),
    [
        ("127.0.0.1", "http", "", {}, None, False),  # the local demo keeps working
        ("10.0.0.20", "http", "", {}, None, True),  # a LAN client: Secure
        ("127.0.0.1", "https", "", {}, None, True),
        # A TLS proxy on this host forwarding a LAN client: Secure.
        ("127.0.0.1", "http", "127.0.0.1", {"X-Forwarded-For": "10.0.0.20"}, None, True),
        ("127.0.0.1", "http", "127.0.0.1", {"X-Forwarded-Proto": "https"}, None, True),
        ("10.0.0.20", "http", "", {}, False, False),  # explicitly disabled
    ],
)
async def test_console_cookie_is_secure_off_loopback(
    settings: NotesSettings, db: Database, redis: Any, tokens: dict[str, str],
    peer: str, scheme: str, trusted: str, headers: dict[str, str], configured: bool | None,
    secure: bool,
) -> None:  # fmt: skip
    changed = {"console_secure_cookie": configured, "trusted_proxies": trusted}
    app = create_app(settings.model_copy(update=changed), db, redis)
    async with _client(app, peer, scheme) as client:
        cookie = await _session_cookie(client, tokens["staff"], **headers)
    assert _is_secure(cookie) is secure


@pytest.mark.parametrize("bad", ["proxy_local", "-tls", "10.0.0.0/33", "tls front"])
def test_a_bad_proxy_entry_is_refused(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("MEDSCRIBE_TRUSTED_PROXIES", f"127.0.0.1, {bad}")
    with pytest.raises(ValidationError, match="is not an IP address, network or host name"):
        NotesSettings()


async def test_a_proxy_named_by_host_is_trusted_at_the_addresses_it_resolves_to() -> None:
    """The compose TLS front is `MEDSCRIBE_TRUSTED_PROXIES=tls`: its container's address,
    looked up again and again (a recreated container gets a new one); a name that does
    not resolve (not started yet) trusts nobody."""
    static, names = proxies.split_entries("10.9.0.0/16, localhost, no-such-host.invalid")
    assert [str(n) for n in static] == ["10.9.0.0/16"]
    assert names == ("localhost", "no-such-host.invalid")
    applied: list[tuple[proxies.Network, ...]] = []
    stop = asyncio.Event()

    def apply(networks: tuple[proxies.Network, ...]) -> None:
        applied.append(networks)
        if len(applied) == 2:
            stop.set()

    await asyncio.wait_for(proxies.keep_resolved(static, names, apply, stop, every_s=0.01), 30)
    trusted = applied[-1]
    assert trusted[0] == static[0]
    assert proxies.is_trusted("127.0.0.1", trusted)
    assert not proxies.is_trusted("10.1.2.3", trusted)
    assert proxies.client_address("127.0.0.1", "203.0.113.9", trusted) == "203.0.113.9"
    assert await proxies.resolve(["no-such-host.invalid"]) == ()
