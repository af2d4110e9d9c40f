"""Console passwords: an administrator's personal link is the invite, its owner chooses a
password, then signs in with name and password; wrong, unknown, revoked and weak passwords
are refused, changing one needs the current one, only a scrypt hash is stored, audited."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from services.notes import passwords
from services.notes.api import console_sessions as sessions
from services.notes.db.engine import Database
from services.notes.db.models import ApiToken, AuditEntry
from tests.api.seeding import bearer, token_id
from tests.kit.console import NONCE_RE, csrf_of

GOOD = "correct horse battery staple"


async def _password_signin(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    form = await client.get("/signin")
    match = NONCE_RE.search(form.text)
    assert match is not None
    return await client.post(
        "/signin", data={"name": name, "password": password, "form_nonce": match.group(1)}
    )


async def _set(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await client.get("/account/password")
    assert page.status_code == 200
    return await client.post("/account/password", data={"csrf_token": csrf_of(page.text), **fields})


async def test_an_invite_leads_to_a_password_and_name_and_password_sign_in(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    clin = await token_id(db, "clin-a")
    made = await client.post(f"/v1/tokens/{clin}/signin-link", headers=bearer(tokens["admin"]))
    opened = await client.get(made.json()["url"])
    assert opened.headers["location"] == "/account/password?welcome=1"
    welcome = await client.get("/account/password?welcome=1")
    assert "Choose a password" in welcome.text
    assert "Current password" not in welcome.text

    short = await _set(client, new_password="short1", repeat_password="short1")
    assert short.status_code == 422
    assert "at least 12" in short.text
    differ = await _set(client, new_password=GOOD, repeat_password=GOOD + "!")
    assert differ.status_code == 422
    same_as_name = await _set(client, new_password="clin-a      ", repeat_password="clin-a      ")
    assert same_as_name.status_code == 422
    saved = await _set(client, new_password=GOOD, repeat_password=GOOD)
    assert saved.status_code == 200
    assert "Password saved" in saved.text
    async with db.session() as s:
        stored = (await s.get(ApiToken, clin)).password_hash  # type: ignore[union-attr]
        actions = (await s.scalars(select(AuditEntry).where(AuditEntry.actor == "clin-a"))).all()
    assert stored is not None
    assert stored.startswith("scrypt$")
    assert GOOD not in stored
    assert "console.password_set" in [a.action for a in actions]

    client.cookies.clear()
    signed = await _password_signin(client, "clin-a", GOOD)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/encounters"
    assert sessions.COOKIE in client.cookies
    assert (await client.get("/v1/encounters")).status_code == 200

    # changing it needs the current one
    wrong_current = await _set(client, current_password="nope", new_password=GOOD + "2",
                               repeat_password=GOOD + "2")  # fmt: skip
    assert wrong_current.status_code == 401
    changed = await _set(client, current_password=GOOD, new_password=GOOD + " 2",
                         repeat_password=GOOD + " 2")  # fmt: skip
    assert changed.status_code == 200
    client.cookies.clear()
    assert (await _password_signin(client, "clin-a", GOOD)).status_code == 401
    assert (await _password_signin(client, "clin-a", GOOD + " 2")).status_code == 303


async def test_wrong_unknown_passwordless_and_revoked_are_refused_alike(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    clin = await token_id(db, "clin-a")
    async with db.session() as s:
        row = await s.get(ApiToken, clin)
        assert row is not None
        row.password_hash = passwords.hash_password(GOOD)
    for name, password in (("clin-a", GOOD + "x"), ("nobody", GOOD), ("staff", GOOD),
                           ("clin-a", ""), ("", GOOD)):  # fmt: skip
        refused = await _password_signin(client, name, password)
        assert refused.status_code == 401, (name, password)
        assert "do not match an account with a password" in refused.text
        assert sessions.COOKIE not in client.cookies
    await client.delete(f"/v1/tokens/{clin}", headers=bearer(tokens["admin"]))
    client.cookies.clear()
    assert (await _password_signin(client, "clin-a", GOOD)).status_code == 401
    async with db.session() as s:
        failures = (
            await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "console.signin", AuditEntry.status == 401
                )
            )
        ).all()
    assert failures  # audited, without the password
    assert all(GOOD not in str(vars(f)) for f in failures)


def test_password_hashes_verify_and_refuse() -> None:
    stored = passwords.hash_password(GOOD)
    assert passwords.verify(GOOD, stored)
    assert not passwords.verify(GOOD + " ", stored)
    assert stored != passwords.hash_password(GOOD)  # salted
    assert not passwords.verify(GOOD, None)
    assert not passwords.verify(GOOD, "scrypt$garbage")
    assert not passwords.verify(GOOD, stored.replace("scrypt", "md5", 1))
    for bad in ("short", "aaaaaaaaaaaaaaa", "x" * 201, "Clin-A"):
        with pytest.raises(passwords.PasswordRejected):
            passwords.check_policy(bad if bad != "Clin-A" else "clin-a", "clin-a")
    passwords.check_policy(GOOD, "clin-a")
