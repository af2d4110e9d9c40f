"""The bridge on the real service's timing (issue 21, point 5): replies that lag the audio,
word times that are estimates (jittered, overlapping), a slow Termination and one that never
comes. No word is doubled or lost across drops, a slow Termination opens no extra billed
session, and a last turn that never arrives is a recorded gap."""

from __future__ import annotations

from typing import Any

from shared.acibench import Dialogue
from shared.contracts import EncounterTranscribed, StreamNames
from simulators.codec import ScriptTurn, script_from_dialogue
from simulators.stt_server import SttSimulator
from tests.bridge.helpers import (
    bridge_settings,
    play_encounter,
    running_bridge,
    script_audio,
    turns_of,
    wait_for_outcome,
)

ENDS_IN_SPEECH = [  # the visit stops mid-turn: its last turn comes only after Terminate
    ScriptTurn("doctor", "How is the knee today?"),
    ScriptTurn("patient", "Better, the swelling went down.", pause_ms=60),
]


async def test_drops_with_lagging_replies_and_estimated_word_times_lose_nothing(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator, short_dialogue: Dialogue
) -> None:
    cfg = sim.config
    cfg.reply_latency_s, cfg.word_jitter_ms = 0.4, 150
    cfg.drop_every_s = 7.0  # longer than the longest turn plus its end-of-turn silence
    pcm = script_audio(script_from_dialogue(short_dialogue))
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await play_encounter(redis, names, "jit-1", pcm)
        out = await wait_for_outcome(redis, names, ["jit-1"], timeout=120)
    done = out["jit-1"]
    assert isinstance(done, EncounterTranscribed)
    assert sim.stats.closed_by_code[1006] >= 2  # the drops did happen
    turns = await turns_of(redis, names, "jit-1")
    assert [t.text for t in turns] == [t.text for t in short_dialogue.turns]
    assert done.gap_seqs == ()
    for t in turns:  # overlapping word times still give a turn that spans its words
        assert t.start_ms == min(w.start_ms for w in t.words)
        assert t.end_ms == max(w.end_ms for w in t.words)


async def test_slow_termination_opens_no_extra_session(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    sim.config.reply_latency_s, sim.config.word_jitter_ms = 0.4, 150
    sim.config.termination_delay_s = 7.0  # wall seconds, over the bridge's 5 s wait
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await play_encounter(redis, names, "slow-1", script_audio(ENDS_IN_SPEECH))
        out = await wait_for_outcome(redis, names, ["slow-1"], timeout=60)
    done = out["slow-1"]
    assert isinstance(done, EncounterTranscribed)
    turns = await turns_of(redis, names, "slow-1")
    assert [t.text for t in turns] == [t.text for t in ENDS_IN_SPEECH]
    assert done.gap_seqs == ()
    assert sim.stats.sessions_opened == 1  # every turn was in: nothing to resend


async def test_last_turn_that_never_comes_is_a_recorded_gap(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    sim.config.terminate_hangs = True
    # 1 s instead of 5: the three sessions wait 1, 2 and 4 s (doubling) before the gap.
    settings = bridge_settings(redis_url, names, sim.url, terminate_timeout_s=1.0)
    async with running_bridge(settings):
        await play_encounter(redis, names, "tail-1", script_audio(ENDS_IN_SPEECH))
        out = await wait_for_outcome(redis, names, ["tail-1"], timeout=60)
    done = out["tail-1"]
    assert isinstance(done, EncounterTranscribed)
    turns = await turns_of(redis, names, "tail-1")
    assert [t.text for t in turns] == [ENDS_IN_SPEECH[0].text]
    assert done.turn_count == 2
    assert done.gap_seqs == (1,)  # shown like a missing turn, never silent
    assert sim.stats.sessions_opened == 3  # the tail was resent twice, then given up
