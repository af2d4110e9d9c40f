"""The live encounter view in Chromium, fed through the real staff API server and Redis
streams: partials shown grey, a turn replacing its draft in place when the edited version
arrives, flags as labels, the end of the visit; and an expired session in the browser."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from services.notes.api.server import serve_api
from services.notes.config import NotesSettings
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.models import ConsoleSession, Encounter, utcnow
from shared.contracts import EditedTurn, Flag, PartialTurn, StreamNames
from shared.gateway import GatewayClient
from shared.streams import make_redis, publish
from simulators.llm_server import LlmSimConfig, start_llm_simulator
from tests.api.seeding import add_encounter, add_token
from tests.kit.api import make_settings
from tests.kit.console import WIDE, check_layout, wait_text

pytestmark = pytest.mark.browser
T = TypeVar("T")
WAIT_MS = 20_000


class ApiThread:
    """The staff API (serve_api, uvicorn) on its own event loop in a thread; it can be
    halted and brought back on the same port (a server restart, as a browser sees it)."""

    def __init__(self, settings: NotesSettings) -> None:
        self.settings = settings
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self.db: Database | None = None
        self.redis: Any = None
        self.gateway: Any = None
        self._closed: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._closed = asyncio.Event()
        self.db = Database(self.settings.database_url)
        await self.db.create_all()
        self.redis = make_redis(self.settings.redis_url)
        # After-visit summaries go through the LLM Gateway: its simulator, as in the service.
        sim = await start_llm_simulator(LlmSimConfig(seed=4))
        self.gateway = GatewayClient(sim.base_url, SecretStr("sim-key"), timeout=20.0)
        try:
            await self.resume()
            self.ready.set()
            await self._closed.wait()
            await self.halt()
        finally:
            await self.gateway.aclose()
            await sim.close()
            await self.redis.aclose()
            await self.db.dispose()

    async def resume(self) -> None:
        assert self.db is not None
        self._stop = asyncio.Event()
        bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        settings = self.settings.model_copy(update={"api_port": self.port})
        self._task = asyncio.create_task(
            serve_api(settings, self.db, self.redis, self._stop, bound=bound,
                      sse_heartbeat_s=0.5, sse_poll_s=0.1, gateway=self.gateway)
        )  # fmt: skip
        self.port = await bound

    async def halt(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await self._task

    def start(self) -> str:
        self._thread.start()
        assert self.ready.wait(20), "the staff API did not start"
        return f"http://127.0.0.1:{self.port}"

    def run(self, coro: Awaitable[T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.loop is not None and self._closed is not None:
            self.loop.call_soon_threadsafe(self._closed.set)
        self._thread.join(20)


@pytest.fixture
def api(tmp_path: Path, redis_url: str, names: StreamNames) -> Iterator[ApiThread]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    server = ApiThread(make_settings(url, redis_url, names, tmp_path / "exports"))
    server.start()
    yield server
    server.stop()


def turn(eid: str, seq: int, text: str, edited: str, status: str, flags: tuple[Flag, ...] = ()
         ) -> EditedTurn:  # fmt: skip
    return EditedTurn(
        encounter_id=eid, seq=seq, stt_session_id="s1", turn_order=seq, text=text,
        speaker="B", start_ms=seq * 4000, end_ms=seq * 4000 + 3000, formatted=True,
        edited_text=edited, edit_status=status, llm_model="claude-haiku-4-5-20251001",
        flags=flags,
    )  # fmt: skip


async def store_turn(db: Database, edited: EditedTurn) -> None:
    async with db.session() as s:
        await repo.upsert_turn(s, edited)


def sign_in(page: Any, base: str, secret: str) -> None:
    page.goto(f"{base}/signin")
    page.get_by_text("Sign in with a sign-in key instead").click()
    page.get_by_label("Sign-in key (API token)").fill(secret)
    page.get_by_role("button", name="Sign in with the key").click()
    page.wait_for_url(re.compile(r"/encounters$"))


def test_live_view_partials_turns_in_place_and_end(
    api: ApiThread, names: StreamNames, browser: Any, shots: Path
) -> None:
    assert api.db is not None
    db = api.db
    started = datetime.now(UTC) - timedelta(seconds=40)
    enc = api.run(
        add_encounter(
            db, clinician="dr-a", status="recording", note=None, turns=1, started_at=started
        )
    )
    eid = enc.encounter_id
    secret = api.run(add_token(db, "clin-a", "clinician", "dr-a"))
    base = f"http://127.0.0.1:{api.port}"
    ctx = browser.new_context(viewport=WIDE)
    page = ctx.new_page()
    sign_in(page, base, secret)
    # A clinician lands on the notes to sign; a visit still recording is under All visits.
    page.get_by_role("button", name="All visits").click()
    item = page.locator(f'li.enc[data-id="{eid}"]')
    assert item.get_attribute("data-status") == "recording"
    item.locator("a").click()
    wait_text(page, "live-state", "t.includes('live')")
    assert page.locator("li.turn").count() == 1  # the stored turn, loaded before following

    redis = api.redis
    api.run(
        publish(
            redis,
            names.partials(eid),
            PartialTurn(encounter_id=eid, text="I have been", at_ms=4100),
        )
    )  # noqa: E501
    api.run(
        publish(
            redis,
            names.partials(eid),
            PartialTurn(encounter_id=eid, text="I have been taking", at_ms=4600),
        )
    )  # noqa: E501
    partial = page.locator("#partial")
    partial.wait_for(state="visible", timeout=WAIT_MS)
    wait_text(page, "partial", "t === 'I have been taking'")
    grey = page.evaluate("getComputedStyle(document.getElementById('partial')).color")
    text = page.evaluate("getComputedStyle(document.querySelector('.turn-text')).color")
    assert grey != text
    assert "italic" in page.evaluate(
        "getComputedStyle(document.getElementById('partial')).fontStyle"
    )
    page.screenshot(path=str(shots / "live-encounter.png"))

    # The finished turn arrives first as a fallback (unedited), then edited: same place.
    heard = "i have been taking albuterol twice a day"
    api.run(publish(redis, names.edited, turn(eid, 1, heard, heard, "fallback")))
    page.locator("#turn-1").wait_for(timeout=WAIT_MS)
    assert partial.is_hidden()
    flags = (Flag(kind="medication", term="albuterol"),)
    fixed = "I have been taking albuterol twice a day."
    api.run(publish(redis, names.edited, turn(eid, 1, heard, fixed, "edited", flags)))
    page.wait_for_function(
        "() => document.querySelector('#turn-1 .turn-text').textContent.endsWith('a day.')"
    )
    assert page.locator("li.turn").count() == 2
    assert [li.get_attribute("data-seq") for li in page.locator("li.turn").all()] == ["0", "1"]
    one = page.locator("#turn-1")
    assert "medication: albuterol" in one.locator(".label.flag").inner_text()
    assert one.locator(".label.edited").count() == 1
    assert one.locator(".original").is_hidden()
    page.get_by_label("Show original text").check()
    assert "original: i have been taking albuterol" in one.locator(".original").inner_text()

    # The server goes away (a restart) while the visit goes on: the page says so, and
    # once the server is back it shows the turn that was finished in between (stored by
    # the notes consumer, as in production) and follows on.
    api.run(api.halt())
    wait_text(page, "live-state", "/reconnect|retrying/.test(t)", timeout=WAIT_MS)
    during = turn(eid, 2, "it helps", "It helps.", "edited")
    api.run(store_turn(db, during))
    api.run(publish(redis, names.edited, during))
    api.run(api.resume())
    page.locator("#turn-2").wait_for(timeout=WAIT_MS * 2)
    wait_text(page, "live-state", "t.includes('live')", timeout=WAIT_MS)
    after = turn(eid, 3, "good", "Good.", "edited")
    api.run(publish(redis, names.edited, after))
    page.locator("#turn-3").wait_for(timeout=WAIT_MS)
    assert page.locator("#turn-2").count() == 1

    # The visit ends: the stream says so, the page reloads the encounter.
    async def finish() -> None:
        async with db.session() as s:
            await s.execute(update(Encounter).where(Encounter.id == eid).values(status="ready"))

    api.run(finish())
    page.wait_for_function(
        "() => document.getElementById('status-badge').dataset.status === 'ready'",
        timeout=WAIT_MS,
    )
    wait_text(page, "live-state", "t === ''")
    check_layout(page)
    ctx.close()


def test_an_expired_session_sends_the_browser_to_sign_in(api: ApiThread, browser: Any) -> None:
    assert api.db is not None
    db = api.db
    secret = api.run(add_token(db, "staff-1", "staff"))
    base = f"http://127.0.0.1:{api.port}"
    ctx = browser.new_context(viewport=WIDE)
    page = ctx.new_page()
    sign_in(page, base, secret)

    async def expire() -> None:
        async with db.session() as s:
            await s.execute(update(ConsoleSession).values(expires_at=utcnow()))

    api.run(expire())
    # The list refreshes itself every few seconds; its next call meets a 401.
    page.wait_for_url(re.compile(r"/signin\?expired=1$"), timeout=WAIT_MS)
    assert "Your session ended" in page.locator(".alert").inner_text()
    ctx.close()
