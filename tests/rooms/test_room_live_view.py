"""Issue 19 item 2: the room's live view under the production ACLs. The editor (as its own
user) copies a room's visit turns where only that room may read them; the capture agent's
watcher, logged in with the room's credentials, shows its own visit's partials and turns
and nothing of another room's; the terminal view says who spoke, says "edited" only when
the text changed, and ends with the visit's console page."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
import redis as sync_redis

from services.capture.live_view import LiveView, Summary, TerminalView
from services.capture.watcher import watch_encounter
from services.editor.state import EditorState
from services.notes import room_admin
from shared import rooms
from shared.contracts import EditedTurn, Flag, PartialTurn, StreamNames, encode
from shared.streams import make_redis
from tests.helpers.acl import PROD_PREFIX, AclRedis

N = StreamNames(PROD_PREFIX)


class Seen(LiveView):
    def __init__(self) -> None:
        super().__init__()
        self.partials: list[str] = []
        self.turns: list[EditedTurn] = []

    def partial(self, text: str) -> None:
        self.partials.append(text)

    def turn(self, turn: EditedTurn) -> None:
        self.turns.append(turn)


def turn(enc: str, seq: int, text: str, edited: str, speaker: str | None = "A") -> EditedTurn:
    return EditedTurn(
        encounter_id=enc, seq=seq, stt_session_id="s", turn_order=seq, text=text,
        speaker=speaker, start_ms=seq * 1000, end_ms=seq * 1000 + 900,
        edited_text=edited, edit_status="edited" if edited != text else "unchanged",
        llm_model="m", flags=(Flag(kind="medication", term="lisinopril"),),
    )  # fmt: skip


@pytest.fixture
async def room_client(acl_redis: AclRedis) -> AsyncIterator[Any]:
    admin = make_redis(acl_redis.admin_url)
    try:
        _, password = await room_admin.add(admin, N, "exam-3")
        await room_admin.add(admin, N, "exam-30")
    finally:
        await admin.aclose()
    port = acl_redis.admin_url.rsplit(":", 1)[1].split("/")[0]
    client = make_redis(f"redis://room-exam-3:{quote(password, safe='')}@127.0.0.1:{port}/0")
    yield client
    await client.aclose()
    with sync_redis.Redis.from_url(acl_redis.admin_url) as cleanup:
        for user in ("room-exam-3", "room-exam-30"):
            cleanup.acl_deluser(user)


async def test_the_room_sees_its_own_visit_live(acl_redis: AclRedis, room_client: Any) -> None:
    mine, other = rooms.new_encounter_id("exam-3"), rooms.new_encounter_id("exam-30")
    editor = make_redis(acl_redis.url("editor"))
    bridge = make_redis(acl_redis.url("bridge"))
    view, stop = Seen(), asyncio.Event()
    watcher = asyncio.create_task(
        watch_encounter(room_client, N, mine, view, stop, block_ms=100, own_copy=True)
    )
    try:
        state = EditorState(editor, N, prompt_version="v", result_ttl_s=60)
        for enc, text in ((mine, "the pa"), (other, "x")):
            partial = PartialTurn(encounter_id=enc, text=text, at_ms=1)
            await bridge.xadd(N.partials(enc), encode(partial))  # type: ignore[arg-type]
        first = turn(mine, 0, "started lysine a pril", "Started lisinopril.")
        assert await state.publish_once(first)
        assert await state.publish_once(turn(other, 0, "other room", "Other room."))
        assert await state.publish_once(turn(mine, 1, "Thank you.", "Thank you.", speaker="B"))
        assert await state.publish_once(turn(mine, 1, "again", "again")) is None  # once only
        deadline = time.monotonic() + 30
        while len(view.turns) < 2:
            assert time.monotonic() < deadline, "the room's live view saw no turns"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 30)
        await editor.aclose()
        await bridge.aclose()
    assert view.partials == ["the pa"]
    assert [(t.encounter_id, t.seq, t.edited_text) for t in view.turns] == [
        (mine, 0, "Started lisinopril."),
        (mine, 1, "Thank you."),
    ]
    with sync_redis.Redis.from_url(acl_redis.admin_url) as admin:
        assert admin.xlen(N.edited) == 3  # the clinic-wide stream has every turn, once
        assert admin.exists(N.live(other)) == 1  # the other room's copy, never shown here
        refused = [e for e in admin.acl_log() if e["username"].startswith("room-")]
        assert refused == []


def test_terminal_view_says_who_spoke_and_edited_only_when_changed() -> None:
    out = io.StringIO()
    view = TerminalView(out)
    view.turn(turn("exam-3.x1", 0, "started lysine a pril", "Started lisinopril."))
    view.turn(turn("exam-3.x1", 1, "Thank you.", "Thank you.", speaker="B"))
    view.turn(turn("exam-3.x1", 2, "Hm.", "Hm.", speaker=None))
    view.finished(
        Summary("exam-3.x1", 99, True, "end_of_input", "http://clinic:8000/encounters/exam-3.x1",
                "/srv/medscribe/exports/exam-3.x1/", "/spool")
    )  # fmt: skip
    text = out.getvalue()
    first, second, third = text.split("] turn ")[1:4]
    assert "speaker A" in first
    assert "heard : \x1b[2mstarted lysine a pril" in first
    assert "edited: Started lisinopril." in first
    assert "speaker B" in second
    assert "said  : Thank you." in second
    assert "edited" not in second
    assert "speaker unknown" in third
    assert text.rstrip().splitlines()[-2] == "Visit page: http://clinic:8000/encounters/exam-3.x1"
    assert "/v1/" not in text
