"""The live view shows partials and this encounter's edited turns; logs never carry text."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis

from services.capture.config import CaptureSettings
from services.capture.live_view import PlainView, TerminalView, level_dbfs, meter
from services.capture.service import StopSignals, run
from services.capture.sources import WavFileSource
from shared.contracts import EditedTurn, EncounterStarted, Flag, PartialTurn, StreamNames
from shared.logging import configure_logging
from shared.streams import publish
from tests.kit.waiting import eventually

CANARY = "CANARY-metoprolol-7731"


def _turn(encounter_id: str, seq: int, text: str) -> EditedTurn:
    return EditedTurn(
        encounter_id=encounter_id,
        seq=seq,
        stt_session_id="s1",
        turn_order=seq,
        text=f"pt takes {text} daily",
        words=(),
        start_ms=1000,
        end_ms=3000,
        edited_text=f"Patient takes {text} daily.",
        edit_status="edited",
        llm_model="m",
        flags=(Flag(kind="medication", term=text), Flag(kind="symptom", term="chest pain")),
    )


class SpyPlainView(PlainView):
    def __init__(self, out: io.StringIO) -> None:
        super().__init__(out)
        self.msg: EncounterStarted | None = None
        self.seen: list[EditedTurn] = []
        self.partial_texts: list[str] = []

    def started(self, msg: EncounterStarted, source: str, status: object) -> None:
        self.msg = msg
        super().started(msg, source, status)  # type: ignore[arg-type]

    def partial(self, text: str) -> None:
        self.partial_texts.append(text)

    def turn(self, turn: EditedTurn) -> None:
        self.seen.append(turn)
        super().turn(turn)


async def test_plain_view_shows_turns_without_text_and_logs_stay_clean(
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    make_wav: Callable[..., tuple[Path, bytes]],
    settings_for: Callable[..., CaptureSettings],
) -> None:
    logs = io.StringIO()
    configure_logging("DEBUG", "json", service="capture", stream=logs)
    out = io.StringIO()
    view = SpyPlainView(out)
    signals = StopSignals.create()
    path, _ = make_wav(seconds=60.0)
    task = asyncio.create_task(
        run(
            settings_for(redis_url),
            WavFileSource(path, speed=5.0),
            redis,
            llm_model="m",
            view=view,
            signals=signals,
        )
    )
    await eventually(lambda: view.msg is not None, every=0.02)
    assert view.msg is not None
    eid = view.msg.encounter_id
    await publish(redis, names.partials(eid), PartialTurn(encounter_id=eid, text="pt ta", at_ms=5))
    await publish(redis, names.edited, _turn("other-encounter", 0, "warfarin"))
    await publish(redis, names.edited, _turn(eid, 0, CANARY))
    await eventually(lambda: len(view.seen) == 1 and view.partial_texts == ["pt ta"], every=0.02)
    signals.stop.set()
    result = await asyncio.wait_for(task, 30)

    assert [t.encounter_id for t in view.seen] == [eid]  # other visits are not shown
    shown = out.getvalue()
    assert "turn seq=0 speaker=" in shown
    assert "status=edited flags: medication=1 symptom=1 diagnosis=0" in shown
    # the console's page of the visit, not the JSON API (issue 19)
    assert f"Visit page: http://127.0.0.1:8080/encounters/{result.encounter_id}" in shown
    assert "warfarin" not in shown
    assert CANARY not in shown  # redirected output gets no text without --show-text
    assert CANARY not in logs.getvalue()
    assert "encounter_stopped" in logs.getvalue()


def test_terminal_view_renders_original_edit_and_flags() -> None:
    out = io.StringIO()
    view = TerminalView(out)
    view.partial("the patient rep")
    view.turn(_turn("e1", 3, "metoprolol"))
    text = out.getvalue()
    assert "turn 3" in text
    assert "heard : \x1b[2mpt takes metoprolol daily" in text
    assert "edited: Patient takes metoprolol daily." in text
    assert "medication: metoprolol" in text
    assert "symptom: chest pain" in text
    assert "  > the patient rep" in text


def test_level_meter() -> None:
    silence = b"\x00\x00" * 800
    loud = (b"\xff\x7f\x01\x80") * 400  # full-scale square wave
    assert level_dbfs(silence) == -96.0
    assert level_dbfs(loud) > -0.1
    assert meter(-96.0) == "-" * 12
    assert meter(0.0) == "#" * 12
