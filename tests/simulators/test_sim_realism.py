"""The simulator's real-timing knobs (issue 21, point 5): estimated word times, replies
that lag the audio, a slow Termination that still comes after every turn."""

from __future__ import annotations

import random
from typing import Any

import pytest

from simulators.codec import ScriptTurn, encode
from simulators.stt_realism import jittered
from simulators.stt_server import SttSimConfig, start_stt_simulator
from tests.simulators.sim_helpers import begin, open_session, send_paced, terminate

SCALE = 20.0


def _turn(n: int) -> dict[str, Any]:
    words = [{"text": f"w{i}", "start": 300 * i, "end": 300 * i + 250} for i in range(n)]
    return {"type": "Turn", "end_of_turn": True, "words": words}


def test_jittered_word_times_are_estimates_that_may_overlap() -> None:
    rng = random.Random(7)
    msg = _turn(200)
    out = jittered(msg, rng, 150)
    assert msg["words"][0]["start"] == 0  # the original is untouched
    for before, after in zip(msg["words"], out["words"], strict=True):
        assert abs(after["start"] - before["start"]) <= 150
        assert after["start"] >= 0
        assert after["end"] > after["start"]
    overlaps = sum(
        a["end"] > b["start"] for a, b in zip(out["words"], out["words"][1:], strict=False)
    )
    assert overlaps > 0
    assert jittered(msg, rng, 0) is msg


def test_realistic_profile_and_its_checks() -> None:
    cfg = SttSimConfig.realistic(word_jitter_ms=80)
    assert cfg.null_fields
    assert cfg.extra_messages
    assert cfg.reply_latency_s > 0
    assert cfg.word_jitter_ms == 80
    assert cfg.termination_delay_s > 0
    with pytest.raises(ValueError):
        SttSimConfig(reply_latency_s=-1)


async def test_lagging_replies_all_arrive_before_a_slow_termination() -> None:
    cfg = SttSimConfig(api_keys=("k1",), time_scale=SCALE, reply_latency_s=0.5,
                       word_jitter_ms=100, termination_delay_s=0.3, seed=3)  # fmt: skip
    script = [ScriptTurn("doctor", "First turn."), ScriptTurn("patient", "Last one.", 0)]
    async with await start_stt_simulator(cfg) as sim:
        ws = await open_session(sim, "speech_model=u3-rt-pro&min_turn_silence=800")
        await begin(ws)
        await send_paced(ws, b"\0" * 3200 + encode(script), SCALE)
        msgs = await terminate(ws)
    finals = [m["transcript"] for m in msgs if m["type"] == "Turn" and m["end_of_turn"]]
    assert finals == [t.text for t in script]  # the one still lagging at Terminate too
