"""Issue 19, left item 6: the room's browser. The capture agent, with the room's own
credentials, leaves a one-time ticket; the console's room live page redeems it once and
gives that browser a session that sees its room's current visit live (partial and edited
turns) and nothing else: no other room, no console page, no API, no transcript history.
A revoked room's browser is cut off."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import redis as sync_redis

from services.capture.live_link import issue_live_link
from services.notes import room_admin
from services.notes.api.app import create_app
from services.notes.db.engine import Database
from shared import rooms
from shared.contracts import EditedTurn, LiveNotice, PartialTurn, QuotaWait, encode
from shared.streams import make_redis
from tests.api.seeding import add_encounter, add_role_tokens
from tests.helpers.acl import AclRedis
from tests.rooms.room_fixtures import N, add_room, gate_settings


def turn(enc: str, seq: int, text: str, edited: str) -> EditedTurn:
    return EditedTurn(
        encounter_id=enc, seq=seq, stt_session_id="s", turn_order=seq, text=text,
        speaker="A", start_ms=seq * 1000, end_ms=seq * 1000 + 900, edited_text=edited,
        edit_status="edited", llm_model="m",
    )  # fmt: skip


async def test_the_rooms_browser_sees_its_visit_and_nothing_else(
    acl_redis: AclRedis, tmp_path: Path
) -> None:
    url3, url4 = await add_room(acl_redis, "exam-3"), await add_room(acl_redis, "exam-4")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    await db.create_all()
    await add_role_tokens(db)
    history = await add_encounter(db, clinician="dr-a")  # an earlier visit in the database
    # plain http from a 10.x address in-process: Secure off, as the API tests do
    settings = gate_settings(acl_redis, tmp_path, database_url=db.url, console_secure_cookie=False)
    notes_redis = make_redis(settings.redis_url)
    room3, room4 = make_redis(url3), make_redis(url4)
    admin = sync_redis.Redis.from_url(acl_redis.admin_url)
    app = create_app(settings, db, notes_redis)
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 50000))
    browser = httpx.AsyncClient(transport=transport, base_url="http://clinic.test")
    try:
        # the visits in progress (as the gate admits them) and their live copies
        mine, theirs = rooms.new_encounter_id("exam-3"), rooms.new_encounter_id("exam-4")
        admin.zadd(rooms.open_key(N, "exam-3"), {mine: 1})
        admin.zadd(rooms.open_key(N, "exam-4"), {theirs: 1})
        admin.xadd(
            N.live(mine), encode(turn(mine, 0, "started lysine a pril", "Started lisinopril."))
        )  # type: ignore[arg-type]  # noqa: E501
        admin.xadd(
            N.live(mine), encode(LiveNotice(encounter_id=mine, kind="exported", export_dir="/x"))
        )  # type: ignore[arg-type]  # noqa: E501
        admin.xadd(N.live(theirs), encode(turn(theirs, 0, "other room", "Other room.")))  # type: ignore[arg-type]  # noqa: E501
        admin.xadd(
            N.partials(mine), encode(PartialTurn(encounter_id=mine, text="and the", at_ms=5000))
        )  # type: ignore[arg-type]  # noqa: E501

        link = await issue_live_link(room3, N, "exam-3", "http://clinic.test")
        assert link is not None
        other = await issue_live_link(room4, N, "exam-4", "http://clinic.test")
        assert other is not None
        # exam-4's ticket is no good for exam-3 (and a room cannot leave one for another)
        forged = link.split("ticket=")[0] + "ticket=" + parse_qs(urlsplit(other).query)["ticket"][0]
        assert (await browser.get(forged)).status_code == 401

        opened = await browser.get(link)
        assert opened.status_code == 303
        assert opened.headers["location"] == "/live/room"
        assert "path=/live/room" in opened.headers["set-cookie"].lower()
        assert (await browser.get(link)).status_code == 401  # once only
        page = await browser.get("/live/room")
        assert page.status_code == 200
        assert "Room exam-3" in page.text

        feed = (await browser.get("/live/room/feed")).json()
        assert feed["encounter_id"] == mine
        assert [t["edited_text"] for t in feed["turns"]] == ["Started lisinopril."]
        assert feed["partial"] == {"text": "and the", "at_ms": 5000}
        assert feed["waiting"] is None
        # the editor marks a visit whose turns wait for LLM quota; the room sees it (its own)
        admin.set(N.editor_quota_wait(mine), QuotaWait(turns=2, since_ms=1).model_dump_json())
        admin.set(N.editor_quota_wait(theirs), QuotaWait(turns=7, since_ms=1).model_dump_json())
        waiting = (await browser.get("/live/room/feed")).json()["waiting"]
        assert waiting == {"turns": 2, "since_ms": 1}
        assert "Other room" not in str(feed)
        later = await browser.get(
            "/live/room/feed", params={"encounter": mine, "after": feed["next"]}
        )
        assert later.json()["turns"] == []  # only what came since
        # another room's visit cannot be asked for: the feed has no room parameter, and
        # naming another visit only restarts this room's own from its beginning
        asked = await browser.get("/live/room/feed", params={"encounter": theirs, "after": "0-0"})
        assert asked.json()["encounter_id"] == mine

        # nothing else: the console, the API, the visit's transcript, earlier visits
        for path in ("/encounters", f"/encounters/{mine}", "/admin/rooms", "/audit"):
            resp = await browser.get(path)
            assert resp.status_code == 303, path
            assert resp.headers["location"].startswith("/signin")
        for path in (
            "/v1/encounters",
            f"/v1/encounters/{history.encounter_id}/transcript",
            f"/v1/encounters/{mine}/transcript",
            f"/v1/encounters/{mine}/events",
        ):
            assert (await browser.get(path)).status_code == 401, path

        # a forged or foreign cookie sees nothing
        stranger = httpx.AsyncClient(transport=transport, base_url="http://clinic.test")
        stranger.cookies.set("medscribe_room", "rs_" + "A" * 43, path="/live/room")
        assert (await stranger.get("/live/room/feed")).status_code == 401
        assert (await stranger.get("/live/room")).status_code == 401
        await stranger.aclose()

        # revoked: the room's browser is cut off at its next poll
        admin_async = make_redis(acl_redis.admin_url)
        await room_admin.revoke(admin_async, N, "exam-3")
        await admin_async.aclose()
        assert (await browser.get("/live/room/feed")).status_code == 401
    finally:
        await browser.aclose()
        await room3.aclose()
        await room4.aclose()
        await notes_redis.aclose()
        admin.close()
        await db.dispose()
