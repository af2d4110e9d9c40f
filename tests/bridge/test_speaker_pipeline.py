"""Who said what across STT sessions, end to end in one process (issue 21, point 6):
STT simulator -> bridge -> editor -> notes (SQLite) -> transcript file and SOAP request.

The simulator diarizes as the service does, and worse: every session after its first
labels the two speakers the other way round ("A" is now the patient), and every second
final first names the wrong speaker and is corrected by a ``SpeakerRevision`` later. The
visit is cut by a forced reconnect (1006) and by session caps (3008 rotations). Every line
of the stored transcript and of the note's request must still name the right role."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from shared.contracts import StreamNames, SttSettings
from shared.gateway import GatewayClient
from simulators.llm_config import LlmSimConfig
from simulators.llm_server import start_llm_simulator
from simulators.stt_server import SttSimulator
from tests.bridge.helpers import (
    bridge_settings,
    play_encounter,
    running_bridge,
    script_audio,
    script_turns,
    turns_of,
)
from tests.editor.support import RunningEditor, settings_for
from tests.kit.notes import notes_settings, running_notes
from tests.kit.waiting import eventually

pytestmark = pytest.mark.timeout(180)

DOC = (
    "Good morning, what brings you in today?", "How long has the knee been hurting?",
    "Any fever, chills or swelling?", "Does it hurt when you climb stairs?",
    "Let me examine the knee now, is that tender?", "Have you taken anything for the pain?",
    "I'm going to prescribe ibuprofen 400 mg twice a day, okay?",
    "Can you come back in two weeks?",
)  # fmt: skip
PAT = (
    "My left knee has been sore and stiff.", "About three weeks, since I slipped on the ice.",
    "No fever, just a little swelling at night.", "Yes, the stairs at work are the worst part.",
    "Ouch, yes, right there on the inside.", "Just some heat packs and a lot of rest.",
    "That works for me, thank you.", "Yes, two weeks is fine, see you then.",
)  # fmt: skip
SCRIPT = [turn for d, p in zip(DOC, PAT, strict=True) for turn in (("doctor", d), ("patient", p))]
ROLE = {"doctor": "Clinician", "patient": "Patient"}
EID = "roles-1"


async def _first_drop_then_caps(sim: SttSimulator) -> None:
    """After the first forced drop, no more drops: the short session cap rotates. Labels
    are revised from then on (a drop loses a pending revision with the connection; a
    cap's close and Termination send it first)."""
    while sim.stats.closed_by_code[1006] < 1:
        await asyncio.sleep(0.01)
    sim.config.drop_every_s = None
    sim.config.speaker_revision_every = 2


async def _exported_with_note(folder: Path) -> bool:
    data = folder / "encounter.json"
    if not data.exists() or not list(folder.glob("clinical_note_soap_*.txt")):
        return False
    return bool(json.loads(data.read_text()).get("notes"))


async def test_roles_survive_reconnect_rotation_swapped_labels_and_revisions(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator, tmp_path: Path
) -> None:
    cfg = sim.config
    cfg.swap_labels_after_first = True
    cfg.drop_every_s, cfg.max_session_s = 8.0, 11.0  # scaled seconds of a 35 s visit
    cfg.extra_messages = True
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    await upgrade_async(db_url)
    db = Database(db_url)
    watcher = asyncio.create_task(_first_drop_then_caps(sim))
    exports = tmp_path / "exports"
    async with contextlib.AsyncExitStack() as stack:
        llm = await stack.enter_async_context(
            await start_llm_simulator(LlmSimConfig(seed=1))
        )  # fmt: skip
        gateway = GatewayClient(llm.base_url, SecretStr("sim-key"), timeout=10.0)
        stack.push_async_callback(gateway.aclose)
        stack.push_async_callback(db.dispose)
        await stack.enter_async_context(RunningEditor(settings_for(redis_url, names, llm)))
        await stack.enter_async_context(
            # The note waits for every turn however slow a loaded machine is (the grace
            # for turns that never come is not under test here).
            running_notes(notes_settings(db, names, exports, grace_period_s=600.0), db, redis,
                          gateway)
        )  # fmt: skip
        bridge = bridge_settings(redis_url, names, sim.url, session_rotate_before_s=0)
        await stack.enter_async_context(running_bridge(bridge))
        pcm = script_audio(script_turns(SCRIPT))
        await play_encounter(redis, names, EID, pcm, stt=SttSettings(speaker_labels=True))
        await eventually(lambda: _exported_with_note(exports / EID), timeout=150)
    watcher.cancel()

    stats = sim.stats
    assert stats.closed_by_code[1006] >= 1  # a forced reconnect ...
    assert stats.closed_by_code[3008] >= 1  # ... and session rotations at the cap
    assert stats.speaker_revisions >= 2
    published = await turns_of(redis, names, EID)
    assert [t.text for t in published] == [text for _, text in SCRIPT]  # nothing lost
    assert len({t.stt_session_id for t in published}) >= 3
    layout = [(t.seq, t.stt_session_id[:8], t.speaker) for t in published]
    # Labels of later sessions are namespaced ("3:A"), never the first session's "A".
    assert any(re.match(r"^(?:[2-9]|[1-9]\d+):[A-Z]$", t.speaker or "") for t in published), layout

    want = [ROLE[who] for who, _ in SCRIPT]
    body = next((exports / EID).glob("encounter_transcript_*.txt")).read_text()
    lines = body.split("=" * 80 + "\n\n", 1)[1].splitlines()
    got = [re.sub(r"^\[[\d:]+\] ", "", line).split(":", 1)[0] for line in lines]
    assert got == want, layout
    soap = [
        b["messages"][-1]["content"] for b in llm.stats.recent
        if "<transcript>" in b["messages"][-1]["content"]
    ]  # fmt: skip
    assert len(soap) == 1, layout
    inner = soap[0].split("<transcript>\n", 1)[1].rsplit("\n</transcript>", 1)[0]
    said = [re.sub(r"^\[\d+\] ", "", line).split(":", 1)[0] for line in inner.splitlines()]
    assert said == want, layout
