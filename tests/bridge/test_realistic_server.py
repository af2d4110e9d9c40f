"""The bridge against a less tidy server (issue 21, point 3): nulls, extra message types
and other ``expires_at`` shapes lose nothing; a final that arrives unusable is a recorded
gap; reconnects are capped and the encounter then fails visibly."""

from __future__ import annotations

from typing import Any

import pytest

from shared.acibench import Dialogue
from shared.contracts import EncounterFailed, EncounterTranscribed, StreamNames, SttSettings
from simulators.codec import script_from_dialogue
from simulators.stt_server import SttSimulator
from tests.bridge.helpers import (
    bridge_settings,
    play_encounter,
    running_bridge,
    script_audio,
    script_turns,
    turns_of,
    wait_for_outcome,
)

LABELS = SttSettings(speaker_labels=True)


@pytest.mark.parametrize("expires", ["iso", "ms", "float", "null"])
async def test_nulls_extra_types_and_odd_begin_lose_nothing(
    redis: Any,
    redis_url: str,
    names: StreamNames,
    sim: SttSimulator,
    short_dialogue: Dialogue,
    expires: Any,
) -> None:
    cfg = sim.config
    cfg.null_fields = cfg.extra_messages = True
    cfg.expires_at_format = expires
    pcm = script_audio(script_from_dialogue(short_dialogue))
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await play_encounter(redis, names, "real-1", pcm, stt=LABELS)
        out = await wait_for_outcome(redis, names, ["real-1"], timeout=90)
    done = out["real-1"]
    assert isinstance(done, EncounterTranscribed)
    turns = await turns_of(redis, names, "real-1")
    assert [t.text for t in turns] == [t.text for t in short_dialogue.turns]
    assert [t.seq for t in turns] == list(range(len(turns)))
    assert done.gap_seqs == ()
    assert sim.stats.sessions_opened == 1  # Begin was understood: no reconnect loop
    assert all(w.confidence == 1.0 for w in turns[0].words[::2])  # null: unscored


async def test_unusable_final_is_a_recorded_gap(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator, short_dialogue: Dialogue
) -> None:
    sim.config.unusable_final_every = 4
    sim.config.extra_messages = True
    pcm = script_audio(script_from_dialogue(short_dialogue))
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await play_encounter(redis, names, "gap-1", pcm, stt=LABELS)
        out = await wait_for_outcome(redis, names, ["gap-1"], timeout=90)
    done = out["gap-1"]
    assert isinstance(done, EncounterTranscribed)
    lost = [i for i in range(len(short_dialogue.turns)) if (i + 1) % 4 == 0]
    assert sim.stats.unusable_finals == len(lost)
    assert done.gap_seqs == tuple(lost)
    assert done.turn_count == len(short_dialogue.turns)  # the gaps are counted turns
    turns = await turns_of(redis, names, "gap-1")
    assert [t.seq for t in turns] == [i for i in range(done.turn_count) if i not in lost]
    want = [t.text for i, t in enumerate(short_dialogue.turns) if i not in lost]
    assert [t.text for t in turns] == want


async def test_reconnects_capped_then_failed_visibly(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    sim.config.error_after_s, sim.config.error_code = 0.5, 3005  # every session, before a final
    pcm = script_audio(script_turns([("doctor", "A long first sentence about the knee.")]))
    settings = bridge_settings(redis_url, names, sim.url, reconnect_max_in_row=3)
    async with running_bridge(settings):
        await play_encounter(redis, names, "loop-1", pcm)
        out = await wait_for_outcome(redis, names, ["loop-1"], timeout=60)
    failed = out["loop-1"]
    assert isinstance(failed, EncounterFailed)
    assert failed.stage == "stt"
    assert "stt_reconnect_cap" in failed.reason
    assert "kept" in failed.reason
    assert sim.stats.sessions_opened == 4  # the first session and three reconnects


async def test_total_reconnects_capped_even_with_progress(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator, short_dialogue: Dialogue
) -> None:
    sim.config.drop_every_s = 6.0
    pcm = script_audio(script_from_dialogue(short_dialogue))
    settings = bridge_settings(redis_url, names, sim.url, reconnect_max_total=2)
    async with running_bridge(settings):
        await play_encounter(redis, names, "tot-1", pcm, stt=LABELS)
        out = await wait_for_outcome(redis, names, ["tot-1"], timeout=90)
    failed = out["tot-1"]
    assert isinstance(failed, EncounterFailed)
    assert "re-opened 2 times" in failed.reason
    assert sim.stats.sessions_opened == 3


async def test_misheard_drug_names_arrive_as_heard(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    """The simulator writes drug names as a recognizer mishears them (the editor fixes
    them); word times stay ordered and inside the turn."""
    sim.config.mishear_drugs = True
    script = script_turns([("doctor", "Stop lisinopril and start losartan today.")])
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await play_encounter(redis, names, "mh-1", script_audio(script))
        await wait_for_outcome(redis, names, ["mh-1"])
    (turn,) = await turns_of(redis, names, "mh-1")
    assert turn.text == "Stop lisa nopril and start low sartan today."
    assert [w.text for w in turn.words] == turn.text.split()
    starts = [w.start_ms for w in turn.words]
    assert starts == sorted(starts)
    assert all(turn.start_ms <= w.start_ms < w.end_ms <= turn.end_ms for w in turn.words)
