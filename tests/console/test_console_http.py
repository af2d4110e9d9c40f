"""The web console over plain HTTP (no browser): sign-in and sessions, the cookie's
flags, CSRF, expiry, sign-out, one-time links, page access by role."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from services.notes.api import console_sessions as sessions
from services.notes.api.app import create_app
from services.notes.auth import hash_token
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from services.notes.db.models import AuditEntry, ConsoleSession, Note, utcnow
from shared.contracts import StreamNames
from tests.api.seeding import SECTIONS, add_encounter, bearer, token_id
from tests.kit.console import NONCE_RE, csrf_of, sign_in

EDIT = {"sections": {**SECTIONS, "plan": ["Albuterol as needed.", "Review in one week."]}}


async def _versions(db: Database, encounter_id: str) -> int:
    async with db.session() as s:
        count = await s.scalar(select(func.count()).where(Note.encounter_id == encounter_id))
    return int(count or 0)


async def test_sign_in_sets_a_strict_httponly_cookie_and_stores_only_its_hash(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    resp = await sign_in(client, tokens["clin-a"])
    assert resp.status_code == 303
    assert resp.headers["location"] == "/encounters"
    cookie = next(
        h for h in resp.headers.get_list("set-cookie") if h.startswith(sessions.COOKIE + "=")
    )
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite"} <= attrs
    assert "samesite=strict" in cookie.lower()
    assert "path=/" in cookie.lower()
    assert "secure" not in attrs  # plain http on 127.0.0.1 must keep working
    session_id = client.cookies[sessions.COOKIE]
    async with db.session() as s:
        rows = (await s.scalars(select(ConsoleSession))).all()
        audit = (await s.scalars(select(AuditEntry))).all()
    assert [r.session_hash for r in rows] == [sessions.hash_session(session_id)]
    assert session_id not in str([vars(r) for r in rows])
    assert [(a.actor, a.action) for a in audit] == [("clin-a", "console.signin")]

    # The cookie authenticates the API as that token: same identity, role and audit actor.
    listed = await client.get("/v1/encounters")
    assert listed.status_code == 200
    async with db.session() as s:
        last = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()))).first()
    assert last is not None
    assert (last.actor, last.role, last.action) == ("clin-a", "clinician", "encounter.list")
    page = await client.get("/encounters")
    assert page.status_code == 200
    assert 'data-user="clin-a"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_bad_tokens_and_a_forged_form_do_not_sign_in(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    for bad in ("", "nonsense", "ms_" + "x" * 43, tokens["admin"] + "x"):
        resp = await sign_in(client, bad)
        assert resp.status_code == 401
        assert "That token is not valid" in resp.text
        assert sessions.COOKIE not in client.cookies
    # No nonce cookie/field pair (a cross-site form): refused before looking at the token.
    client.cookies.clear()
    forged = await client.post("/signin", data={"token": tokens["admin"], "form_nonce": "x"})
    assert forged.status_code == 403
    assert sessions.COOKIE not in client.cookies
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(ConsoleSession)) == 0


async def test_csrf_token_is_required_with_the_cookie_and_not_with_bearer(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db, clinician="dr-a")
    eid = enc.encounter_id
    await sign_in(client, tokens["clin-a"])
    csrf = csrf_of((await client.get(f"/encounters/{eid}")).text)
    url = f"/v1/encounters/{eid}/note"

    for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": ""}):
        refused = await client.put(url, json=EDIT, headers={"If-Match": '"v1"', **headers})
        assert refused.status_code == 403, headers
        assert refused.json() == {"detail": "missing or invalid CSRF token"}
    for method, path in (("POST", f"{url}/sign"), ("POST", f"{url}/regenerate")):
        refused = await client.request(method, path)
        assert refused.status_code == 403
    assert await _versions(db, eid) == 1  # nothing was changed

    ok = await client.put(url, json=EDIT, headers={"If-Match": '"v1"', "X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert ok.json()["author"] == "clin-a"
    # Reads need no CSRF token.
    assert (await client.get(url)).status_code == 200

    # Bearer requests are unaffected (no cookie, no CSRF token).
    fresh = httpx.AsyncClient(transport=client._transport, base_url="http://api.test")
    async with fresh:
        headers = {"If-Match": '"v2"', **bearer(tokens["clin-a"])}
        again = await fresh.put(url, json=EDIT, headers=headers)
    assert again.status_code == 200
    assert await _versions(db, eid) == 3


async def test_sign_out_needs_csrf_and_deletes_the_session(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    await sign_in(client, tokens["staff"])
    session_id = client.cookies[sessions.COOKIE]
    csrf = csrf_of((await client.get("/encounters")).text)
    refused = await client.post("/signout", data={"csrf_token": "nope"})
    assert refused.status_code == 403
    assert (await client.get("/v1/encounters")).status_code == 200  # still signed in

    out = await client.post("/signout", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert out.headers["location"] == "/signin"
    assert sessions.COOKIE not in client.cookies
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(ConsoleSession)) == 0
        actions = (await s.scalars(select(AuditEntry.action))).all()
    assert "console.signout" in actions
    # The old cookie is worth nothing now.
    client.cookies.set(sessions.COOKIE, session_id)
    assert (await client.get("/v1/encounters")).status_code == 401
    page = await client.get("/encounters")
    assert page.status_code == 303
    assert page.headers["location"] == "/signin?expired=1"


@pytest.mark.parametrize("which", ["idle", "lifetime", "revoked"])
async def test_sessions_end(
    which: str, client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    await sign_in(client, tokens["clin-a"])
    assert (await client.get("/v1/encounters")).status_code == 200
    past = utcnow() - timedelta(hours=13)
    async with db.session() as s:
        if which == "idle":  # unused longer than the idle timeout (30 min by default)
            await s.execute(update(ConsoleSession).values(last_seen_at=past))
        elif which == "lifetime":  # past its absolute expiry, though recently used
            await s.execute(update(ConsoleSession).values(expires_at=utcnow()))
        else:
            from services.notes.db import repo

            await repo.revoke_token(s, "clin-a")
    resp = await client.get("/v1/encounters")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    page = await client.get("/encounters")
    assert page.headers["location"] == "/signin?expired=1"
    async with db.session() as s:  # the ended session is gone from the table
        assert await s.scalar(select(func.count()).select_from(ConsoleSession)) == 0


async def test_settings_shorten_the_session(
    settings: NotesSettings, db: Database, redis: Any, tokens: dict[str, str]
) -> None:
    short = settings.model_copy(update={"console_idle_timeout_s": 0.3})
    app = create_app(short, db, redis)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        await sign_in(c, tokens["staff"])
        assert (await c.get("/v1/encounters")).status_code == 200
        await asyncio.sleep(0.5)
        assert (await c.get("/v1/encounters")).status_code == 401


async def test_secure_cookie_over_https_or_when_configured(
    settings: NotesSettings, db: Database, redis: Any, tokens: dict[str, str]
) -> None:
    for configured, base, secure in (
        (None, "https://api.test", True),
        (True, "http://api.test", True),
        (False, "https://api.test", False),
    ):
        changed = settings.model_copy(update={"console_secure_cookie": configured})
        app = create_app(changed, db, redis)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as c:
            resp = await sign_in(c, tokens["staff"])
            cookie = next(
                h for h in resp.headers.get_list("set-cookie") if h.startswith(sessions.COOKIE)
            )
            assert ("; secure" in cookie.lower()) is secure, (configured, base, cookie)


async def test_one_time_sign_in_link(
    client: httpx.AsyncClient, app: FastAPI, db: Database, redis: Any, names: StreamNames,
    tokens: dict[str, str],
) -> None:  # fmt: skip
    ticket = await sessions.issue_link(redis, names, hash_token(tokens["admin"]), ttl_s=60)
    first = await client.get(f"/signin/link?ticket={ticket}")
    assert first.status_code == 303
    assert first.headers["location"] == "/encounters"
    assert sessions.COOKIE in client.cookies
    assert (await client.get("/v1/tokens")).status_code == 200  # signed in as the admin

    client.cookies.clear()
    again = await client.get(f"/signin/link?ticket={ticket}")
    assert again.status_code == 401
    assert "already used or has expired" in again.text
    assert sessions.COOKIE not in client.cookies

    short = await sessions.issue_link(redis, names, hash_token(tokens["admin"]), ttl_s=0.05)
    await asyncio.sleep(0.2)
    assert (await client.get(f"/signin/link?ticket={short}")).status_code == 401
    assert (await client.get("/signin/link?ticket=sl_forged")).status_code == 401
    assert (await client.get("/signin/link")).status_code == 401


async def test_pages_follow_the_role_rules(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    mine = await add_encounter(db, clinician="dr-a")
    theirs = await add_encounter(db, clinician="dr-b")
    for path in ("/", "/encounters", f"/encounters/{mine.encounter_id}", "/audit", "/admin/tokens"):
        resp = await client.get(path)
        assert resp.status_code == 303, path
        # A visit's page sends the browser back to it after signing in.
        back = f"?next={path}" if path.startswith("/encounters/") else ""
        assert resp.headers["location"] == "/signin" + back

    await sign_in(client, tokens["clin-a"])
    assert (await client.get(f"/encounters/{mine.encounter_id}")).status_code == 200
    other = await client.get(f"/encounters/{theirs.encounter_id}")
    # Another clinician's encounter looks exactly like an unknown one (no existence leak).
    unknown = await client.get("/encounters/enc-nope")
    assert (other.status_code, unknown.status_code) == (404, 404)
    assert "No such encounter." in other.text
    assert other.text == unknown.text
    api = await client.get(f"/v1/encounters/{theirs.encounter_id}/transcript")
    assert api.status_code == 404
    assert (await client.get("/admin/tokens")).status_code == 403
    assert (await client.get("/admin/rooms")).status_code == 403
    assert (await client.get("/audit")).status_code == 403

    client.cookies.clear()
    await sign_in(client, tokens["auditor"])
    assert (await client.get("/")).headers["location"] == "/audit"
    assert (await client.get("/audit")).status_code == 200
    assert (await client.get("/encounters")).status_code == 403
    assert (await client.get(f"/encounters/{mine.encounter_id}")).status_code == 403

    client.cookies.clear()
    await sign_in(client, tokens["admin"])
    pages = ("/encounters", f"/encounters/{theirs.encounter_id}", "/audit", "/admin/tokens")
    for path in (*pages, "/admin/rooms"):
        assert (await client.get(path)).status_code == 200, path


async def test_live_events_open_with_the_cookie(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db, clinician="dr-a", status="ready")
    await sign_in(client, tokens["clin-a"])
    async with client.stream("GET", f"/v1/encounters/{enc.encounter_id}/events") as resp:
        assert resp.status_code == 200
        text = (await resp.aread()).decode()
    assert "event: status" in text
    assert 'event: end\ndata: {"status":"ready"}' in text


async def test_static_assets_are_served(client: httpx.AsyncClient) -> None:
    js = await client.get("/static/console.js")
    assert js.status_code == 200
    assert "X-CSRF-Token" in js.text
    assert "localStorage" not in js.text
    assert "sessionStorage" not in js.text
    css = await client.get("/static/console.css")
    assert css.status_code == 200
    assert "@media" in css.text


async def test_token_ids_of_sessions_cascade(db: Database, tokens: dict[str, str]) -> None:
    """Deleting a token row (never done by the code, but by hand) removes its sessions."""
    tid = await token_id(db, "staff")
    async with db.session() as s:
        await sessions.create(s, tid, sessions.Lifetimes(timedelta(hours=1), timedelta(minutes=5)))
    from services.notes.db.models import ApiToken

    async with db.session() as s:
        await s.execute(ApiToken.__table__.delete().where(ApiToken.id == tid))
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(ConsoleSession)) == 0


async def test_search_by_post_keeps_words_out_of_urls_and_keeps_the_rules(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    hit = await add_encounter(db, clinician="dr-a", note_text_extra="Start montelukast.")
    await add_encounter(db, clinician="dr-a")
    other = await add_encounter(db, clinician="dr-b", note_text_extra="Start montelukast.")
    found = await client.post(
        "/v1/encounters/search", json={"q": "MONTELUKAST"}, headers=bearer(tokens["staff"])
    )
    assert found.status_code == 200
    assert {e["id"] for e in found.json()["items"]} == {hit.encounter_id, other.encounter_id}
    mine = await client.post(
        "/v1/encounters/search", json={"q": "montelukast"}, headers=bearer(tokens["clin-a"])
    )
    assert [e["id"] for e in mine.json()["items"]] == [hit.encounter_id]
    theirs = await client.post(
        "/v1/encounters/search", json={"clinician": "dr-b"}, headers=bearer(tokens["clin-a"])
    )
    assert theirs.status_code == 403
    for bad in ({"q": ""}, {"limit": 0}, {"status": "done"}, {"q": "a\x00b"}, {"x": 1}):
        resp = await client.post("/v1/encounters/search", json=bad, headers=bearer(tokens["staff"]))
        assert resp.status_code == 422, bad
        assert "montelukast" not in resp.text
    assert (await client.post("/v1/encounters/search", json={})).status_code == 401
    page = await client.post(
        "/v1/encounters/search", json={"limit": 1}, headers=bearer(tokens["staff"])
    )
    nxt = await client.post(
        "/v1/encounters/search",
        json={"limit": 1, "cursor": page.json()["next_cursor"]},
        headers=bearer(tokens["staff"]),
    )
    assert nxt.json()["items"][0]["id"] != page.json()["items"][0]["id"]


async def test_bearer_wins_over_the_cookie_and_sign_in_never_reuses_a_session(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    await sign_in(client, tokens["admin"])
    first = client.cookies[sessions.COOKIE]
    who = await client.get("/v1/tokens", headers=bearer(tokens["clin-a"]))
    assert who.status_code == 403  # the clinician's Bearer token, not the admin's cookie
    signed_in_form = await client.get("/signin")
    assert signed_in_form.status_code == 303  # already signed in: on to the start page
    client.cookies.clear()
    await sign_in(client, tokens["admin"])  # signing in again: always a new session id
    assert client.cookies[sessions.COOKIE] != first
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(ConsoleSession)) == 2
    # Signing out without a session just shows the sign-in page.
    client.cookies.clear()
    out = await client.post("/signout", data={"csrf_token": "x"})
    assert out.status_code == 303
    assert out.headers["location"] == "/signin"


async def test_a_revoked_tokens_link_does_not_sign_in(
    client: httpx.AsyncClient, db: Database, redis: Any, names: StreamNames,
    tokens: dict[str, str],
) -> None:  # fmt: skip
    from services.notes.db import repo

    ticket = await sessions.issue_link(redis, names, hash_token(tokens["staff"]), ttl_s=60)
    async with db.session() as s:
        await repo.revoke_token(s, "staff")
    resp = await client.get(f"/signin/link?ticket={ticket}")
    assert resp.status_code == 401
    assert sessions.COOKIE not in client.cookies


async def test_read_only_roles_get_no_edit_controls(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db, clinician="dr-a")
    await sign_in(client, tokens["staff"])
    page = await client.get(f"/encounters/{enc.encounter_id}")
    assert page.status_code == 200
    assert 'id="save"' not in page.text
    assert 'id="regen-form"' not in page.text
    assert page.text.count("readonly") == 4
    assert 'data-may-write="false"' in page.text
    client.cookies.clear()
    await sign_in(client, tokens["clin-a"])
    page = await client.get(f"/encounters/{enc.encounter_id}")
    assert 'id="save"' in page.text
    assert "readonly" not in page.text


async def test_signing_in_again_returns_to_the_visit_and_nowhere_else(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    enc = await add_encounter(db, clinician="dr-a")
    back = f"/encounters/{enc.encounter_id}"
    for asked, lands in (
        (back, back),
        ("//evil.example/encounters", "/encounters"),
        ("https://evil.example/", "/encounters"),
        ("/admin/tokens", "/encounters"),
        ("/encounters/../admin/tokens", "/encounters"),
    ):
        form = await client.get("/signin", params={"expired": "1", "next": asked})
        assert "unsaved changes were kept" in form.text
        match = NONCE_RE.search(form.text)
        assert match is not None
        shown = 'name="next"' in form.text
        assert shown == (asked == back), asked  # only a console page is carried along
        resp = await client.post(
            "/signin",
            data={"token": tokens["clin-a"], "form_nonce": match.group(1), "next": asked},
        )
        assert resp.status_code == 303
        assert resp.headers["location"] == lands, asked
        client.cookies.clear()


async def test_an_admin_s_sign_in_link_signs_its_owner_in_once(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    clin = await token_id(db, "clin-a")
    made = await client.post(f"/v1/tokens/{clin}/signin-link", headers=bearer(tokens["admin"]))
    assert made.status_code == 201, made.text
    assert made.json()["expires_in_s"] == 24 * 3600
    url = made.json()["url"]
    assert url.startswith("/signin/link?ticket=")
    assert tokens["clin-a"] not in url  # the link is not the token
    opened = await client.get(url)
    assert opened.status_code == 303
    # the invite: its owner, without a password yet, chooses one next
    assert opened.headers["location"] == "/account/password?welcome=1"
    assert sessions.COOKIE in opened.cookies
    client.cookies.clear()
    assert (await client.get(url)).status_code == 401  # once only
    staff = await client.post(f"/v1/tokens/{clin}/signin-link", headers=bearer(tokens["staff"]))
    assert staff.status_code == 403
    await client.delete(f"/v1/tokens/{clin}", headers=bearer(tokens["admin"]))
    revoked = await client.post(f"/v1/tokens/{clin}/signin-link", headers=bearer(tokens["admin"]))
    assert revoked.status_code == 409
    async with db.session() as s:
        targets = (
            await s.scalars(select(AuditEntry.target).where(AuditEntry.action == "token.create"))
        ).all()
    assert f"signin-link:token:{clin}" in targets


async def test_the_after_visit_summary_page_follows_the_role_rules(
    client: httpx.AsyncClient, db: Database, tokens: dict[str, str]
) -> None:
    mine = await add_encounter(db, clinician="dr-a", status="signed", note="signed")
    theirs = await add_encounter(db, clinician="dr-b", status="signed", note="signed")
    page = f"/encounters/{mine.encounter_id}/summary"
    anonymous = await client.get(page)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/signin?next={page}"  # back to it after sign-in
    await sign_in(client, tokens["clin-a"])
    shown = await client.get(page)
    assert shown.status_code == 200
    assert 'id="summary-page"' in shown.text
    assert 'id="summary-write"' in shown.text  # the clinician may have it written
    assert "Cough" not in shown.text  # a shell: the summary itself comes from /v1
    other = await client.get(f"/encounters/{theirs.encounter_id}/summary")
    assert other.status_code == 404
    client.cookies.clear()
    await sign_in(client, tokens["staff"])
    staff = await client.get(page)
    assert staff.status_code == 200  # the front desk prints it
    assert 'id="summary-write"' not in staff.text
    client.cookies.clear()
    await sign_in(client, tokens["auditor"])
    assert (await client.get(page)).status_code == 403
