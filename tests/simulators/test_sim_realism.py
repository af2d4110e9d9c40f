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


async def test_diarization_revises_earlier_labels_and_relabels_later_sessions() -> None:
    """Every 2nd final first names the wrong speaker; a SpeakerRevision with the true
    label and the turn's words follows the next final, or comes before Termination. A
    later session labels the two speakers the other way round (swap_labels_after_first)."""
    cfg = SttSimConfig(api_keys=("k1",), time_scale=SCALE, speaker_revision_every=2,
                       swap_labels_after_first=True)  # fmt: skip
    script = [ScriptTurn("doctor", "Any pain?"), ScriptTurn("patient", "Yes, my knee."),
              ScriptTurn("doctor", "Since when?"), ScriptTurn("patient", "Monday.", 0)]  # fmt: skip
    query = "speech_model=u3-rt-pro&min_turn_silence=800&speaker_labels=true"
    sessions = []
    async with await start_stt_simulator(cfg) as sim:
        for _ in range(2):
            ws = await open_session(sim, query)
            await begin(ws)
            await send_paced(ws, b"\0" * 3200 + encode(script), SCALE)
            sessions.append(await terminate(ws))
        assert sim.stats.speaker_revisions == 4
    for n, msgs in enumerate(sessions):
        kinds = [m["type"] for m in msgs if m["type"] in ("Turn", "SpeakerRevision")
                 and (m["type"] != "Turn" or m["end_of_turn"])]  # fmt: skip
        assert kinds == ["Turn", "Turn", "Turn", "SpeakerRevision", "Turn", "SpeakerRevision"]
        finals = [m for m in msgs if m["type"] == "Turn" and m["end_of_turn"]]
        doctor, patient = ("A", "B") if n == 0 else ("B", "A")
        assert [f["speaker_label"] for f in finals] == [doctor, doctor, doctor, doctor]
        revisions = [m["revisions"] for m in msgs if m["type"] == "SpeakerRevision"]
        assert [[(r["turn_order"], r["speaker_label"]) for r in rs] for rs in revisions] == [
            [(1, patient)],
            [(3, patient)],
        ]
        assert {w["speaker"] for w in revisions[0][0]["words"]} == {patient}
        assert [w["text"] for w in revisions[0][0]["words"]] == ["Yes,", "my", "knee."]
        assert msgs[-1]["type"] == "Termination"


def test_revision_knob_is_checked() -> None:
    with pytest.raises(ValueError, match="speaker_revision_every"):
        SttSimConfig(speaker_revision_every=0)
    assert SttSimConfig.realistic().speaker_revision_every == 3
