"""The bridge against the STT simulator: capture frames (written here with XADD) ->
bridge -> simulator -> ms:turns must give exactly the script's turns, in order, once."""

from __future__ import annotations

import io
from typing import Any

import pytest

from services.stt_bridge.chunker import MAX_MS, MIN_MS
from shared.acibench import Dialogue
from shared.contracts import EncounterFailed, EncounterTranscribed, StreamNames, SttSettings
from shared.logging import configure_logging
from simulators.codec import script_from_dialogue
from simulators.stt_server import SttSimulator
from tests.bridge.helpers import (
    bridge_settings,
    frames_of,
    play_encounter,
    play_frames,
    running_bridge,
    script_audio,
    script_turns,
    start_encounter,
    stop_encounter,
    turns_of,
    wait_for_outcome,
)

LABELS = SttSettings(speaker_labels=True)


async def _check_exact(redis: Any, names: StreamNames, eid: str, d: Dialogue) -> list[Any]:
    """Exactly the dialogue's turns, in order, numbered 0..n-1, with speaker labels.

    Diarization labels are per STT session (the service, like the simulator, labels by first
    appearance in each session): within a session each speaker has one label of its own.
    """
    turns = await turns_of(redis, names, eid)
    assert [t.seq for t in turns] == list(range(len(turns)))
    assert [t.text for t in turns] == [t.text for t in d.turns]
    per_session: dict[str, dict[str, str]] = {}
    for got, want in zip(turns, d.turns, strict=True):
        assert got.speaker is not None
        labels = per_session.setdefault(got.stt_session_id, {})
        assert labels.setdefault(want.speaker, got.speaker) == got.speaker
    for labels in per_session.values():
        assert len(set(labels.values())) == len(labels)
    starts = [t.start_ms for t in turns]
    assert starts == sorted(starts)  # encounter time, monotonic across sessions
    return turns


async def test_full_aci_bench_dialogue_exact(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator, aci_dialogues: list[Dialogue]
) -> None:
    sim.config.time_scale = 40.0
    d = aci_dialogues[0]
    pcm = script_audio(script_from_dialogue(d))
    async with running_bridge(bridge_settings(redis_url, names, sim.url, pace_factor=40.0)):
        await play_encounter(redis, names, "full-1", pcm, stt=LABELS, pace_factor=40.0)
        out = await wait_for_outcome(redis, names, ["full-1"], timeout=120)
    done = out["full-1"]
    assert isinstance(done, EncounterTranscribed)
    turns = await _check_exact(redis, names, "full-1", d)
    assert done.turn_count == len(turns) == len(d.turns)
    assert done.audio_ms == len(pcm) // 32
    assert len(done.stt_sessions) == 1
    assert done.stt_sessions[0].audio_duration_s > 0
    assert all(t.formatted for t in turns)
    assert sim.stats.closed_by_code.get(3007, 0) == 0


async def test_drops_every_few_seconds(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator, short_dialogue: Dialogue
) -> None:
    sim.config.drop_every_s = 8.0
    pcm = script_audio(script_from_dialogue(short_dialogue))
    settings = bridge_settings(redis_url, names, sim.url)
    async with running_bridge(settings) as bridge:
        await play_encounter(redis, names, "drop-1", pcm, stt=LABELS)
        out = await wait_for_outcome(redis, names, ["drop-1"], timeout=90)
        reconnects = bridge.metrics.reconnects.labels("1006")._value.get()
    assert isinstance(out["drop-1"], EncounterTranscribed)
    await _check_exact(redis, names, "drop-1", short_dialogue)
    assert sim.stats.closed_by_code[1006] >= 2
    assert reconnects >= 2
    sessions = out["drop-1"].stt_sessions
    assert len(sessions) == sim.stats.sessions_opened  # every session accounted for


@pytest.mark.parametrize("code", [3005, 1011, 1013])
async def test_server_errors_reconnect(
    redis: Any,
    redis_url: str,
    names: StreamNames,
    sim: SttSimulator,
    short_dialogue: Dialogue,
    code: int,
) -> None:
    sim.config.error_after_s, sim.config.error_code = 9.0, code
    pcm = script_audio(script_from_dialogue(short_dialogue))
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await play_encounter(redis, names, f"err-{code}", pcm, stt=LABELS)
        out = await wait_for_outcome(redis, names, [f"err-{code}"], timeout=90)
    assert isinstance(out[f"err-{code}"], EncounterTranscribed)
    await _check_exact(redis, names, f"err-{code}", short_dialogue)
    assert sim.stats.closed_by_code[code] >= 1


async def test_session_limit_3008_mid_visit(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator, short_dialogue: Dialogue
) -> None:
    sim.config.max_session_s = 12.0
    pcm = script_audio(script_from_dialogue(short_dialogue))
    settings = bridge_settings(redis_url, names, sim.url, session_rotate_before_s=0)
    async with running_bridge(settings):
        await play_encounter(redis, names, "cap-1", pcm, stt=LABELS)
        out = await wait_for_outcome(redis, names, ["cap-1"], timeout=90)
    assert isinstance(out["cap-1"], EncounterTranscribed)
    await _check_exact(redis, names, "cap-1", short_dialogue)
    assert sim.stats.closed_by_code[3008] >= 1


async def test_proactive_rotation_before_expiry(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator, short_dialogue: Dialogue
) -> None:
    # At 10x, Begin.expires_at (whole wall seconds) is precise to 10 scaled seconds.
    sim.config.time_scale, sim.config.max_session_s = 10.0, 20.0
    pcm = script_audio(script_from_dialogue(short_dialogue))
    settings = bridge_settings(
        redis_url, names, sim.url, pace_factor=10.0, session_rotate_before_s=8.0
    )
    async with running_bridge(settings):
        await play_encounter(redis, names, "rot-1", pcm, stt=LABELS, pace_factor=10.0)
        out = await wait_for_outcome(redis, names, ["rot-1"], timeout=90)
    assert isinstance(out["rot-1"], EncounterTranscribed)
    turns = await _check_exact(redis, names, "rot-1", short_dialogue)
    assert 2 <= sim.stats.sessions_opened < len(turns)  # rotated near expiry, not per turn
    assert sim.stats.closed_by_code.get(3008, 0) == 0  # never hit the cap


async def test_bad_key_fails_encounter_and_keeps_audio(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    pcm = script_audio(script_turns([("doctor", "Any pain today?")]))
    settings = bridge_settings(redis_url, names, sim.url, assemblyai_api_key="wrong-key")
    async with running_bridge(settings):
        last = await play_encounter(redis, names, "key-1", pcm)
        out = await wait_for_outcome(redis, names, ["key-1"])
    failed = out["key-1"]
    assert isinstance(failed, EncounterFailed)
    assert failed.stage == "stt"
    assert "1008" not in failed.reason or "refused" in failed.reason
    assert "API key" in failed.reason
    assert "kept" in failed.reason
    assert await redis.xlen(names.audio("key-1")) == last + 1  # audio kept for a later pass
    assert sim.stats.sessions_rejected == 1  # no retry loop against a bad key


@pytest.mark.parametrize("code", [1008, 3009])
async def test_new_session_rate_limit_backs_off(
    redis: Any,
    redis_url: str,
    names: StreamNames,
    sim: SttSimulator,
    short_dialogue: Dialogue,
    code: int,
) -> None:
    sim.config.drop_every_s = 10.0
    sim.config.new_sessions_per_min, sim.config.rate_limit_code = 2, code
    pcm = script_audio(script_from_dialogue(short_dialogue))
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await play_encounter(redis, names, "rl-1", pcm, stt=LABELS)
        out = await wait_for_outcome(redis, names, ["rl-1"], timeout=90)
    assert isinstance(out["rl-1"], EncounterTranscribed)
    await _check_exact(redis, names, "rl-1", short_dialogue)
    assert sim.stats.sessions_rejected >= 1


async def test_protocol_bug_retried_once_then_failed(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    sim.config.error_after_s, sim.config.error_code = 0.5, 3007  # before any final
    pcm = script_audio(script_turns([("doctor", "A long first sentence about the knee.")]))
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await play_encounter(redis, names, "bug-1", pcm)
        out = await wait_for_outcome(redis, names, ["bug-1"])
    assert isinstance(out["bug-1"], EncounterFailed)
    assert "3007" in out["bug-1"].reason
    assert sim.stats.sessions_opened == 2  # the first try and exactly one retry


@pytest.mark.parametrize("legacy", [False, True])
async def test_universal_streaming_formatted_finals_once(
    redis: Any,
    redis_url: str,
    names: StreamNames,
    sim: SttSimulator,
    short_dialogue: Dialogue,
    legacy: bool,
) -> None:
    sim.config.legacy_double_final = legacy
    stt = SttSettings(speech_model="universal-streaming-english", speaker_labels=True,
                      format_turns=True, end_of_turn_confidence_threshold=0.7)  # fmt: skip
    pcm = script_audio(script_from_dialogue(short_dialogue))
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await play_encounter(redis, names, "us-1", pcm, stt=stt)
        await wait_for_outcome(redis, names, ["us-1"], timeout=90)
    turns = await _check_exact(redis, names, "us-1", short_dialogue)
    assert all(t.formatted for t in turns)
    if legacy:  # the server sent two finals per turn; one was published
        assert sim.stats.finals == 2 * len(turns)


async def test_universal_streaming_unformatted(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    stt = SttSettings(speech_model="universal-streaming-english", format_turns=False)
    script = script_turns([("doctor", "Any chest pain?"), ("patient", "No, none at all.")])
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await play_encounter(redis, names, "usu-1", script_audio(script), stt=stt)
        await wait_for_outcome(redis, names, ["usu-1"])
    turns = await turns_of(redis, names, "usu-1")
    assert [(t.text, t.formatted) for t in turns] == [
        ("any chest pain", False),
        ("no none at all", False),
    ]


async def test_odd_sizes_bursts_and_late_audio_never_3007(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator, short_dialogue: Dialogue
) -> None:
    """Capture frames of odd sizes, in bursts, with a stall: chunks stay in 50..1000 ms."""
    pcm = script_audio(script_from_dialogue(short_dialogue))
    frames = frames_of(pcm, sizes=(2, 802, 30, 4000, 1598, 64000, 12))
    half = len(frames) // 2
    eid = "odd-1"
    async with running_bridge(bridge_settings(redis_url, names, sim.url, chunk_ms=50)):
        await start_encounter(redis, names, eid, LABELS)
        last = await play_frames(redis, names, eid, frames[:half], burst=7)
        # capture stalls (network), then delivers its spool in one burst, then live again
        import asyncio

        await asyncio.sleep(0.5)
        last = await play_frames(
            redis, names, eid, frames[half : half + 40], first_seq=last + 1, pace_factor=1e6
        )
        last = await play_frames(redis, names, eid, frames[half + 40 :], first_seq=last + 1)
        await stop_encounter(redis, names, eid, last)
        await wait_for_outcome(redis, names, [eid], timeout=90)
    await _check_exact(redis, names, eid, short_dialogue)
    assert sim.stats.closed_by_code.get(3007, 0) == 0
    assert MIN_MS == 50
    assert MAX_MS == 1000


async def test_logs_carry_no_transcript_text(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    canary = "Zyxwv canary metformin"
    stream = io.StringIO()
    configure_logging("DEBUG", "json", service="stt-bridge", stream=stream)
    try:
        sim.config.drop_every_s = 3.0
        script = script_turns([("doctor", canary), ("patient", "Qwerty canary two.")])
        async with running_bridge(bridge_settings(redis_url, names, sim.url)):
            await play_encounter(redis, names, "phi-1", script_audio(script))
            await wait_for_outcome(redis, names, ["phi-1"])
    finally:
        configure_logging("INFO", "console", service="tests")
    logs = stream.getvalue()
    assert "turn_published" in logs
    assert "sim-key" not in logs
    assert "canary" not in logs.lower()


def slow_terminate(monkeypatch: pytest.MonkeyPatch, delays: list[float]) -> list[int]:
    """Make the simulator answer the n-th Terminate ``delays[n]`` s late (the last delay
    for every later one); returns a one-item list counting the Terminates answered."""
    import asyncio

    from simulators import stt_session

    original = stt_session.SttSession._finish
    calls = [0]

    async def slow_finish(self: Any) -> None:
        delay = delays[min(calls[0], len(delays) - 1)]
        calls[0] += 1
        if delay:
            await asyncio.sleep(delay)
        await original(self)

    monkeypatch.setattr(stt_session.SttSession, "_finish", slow_finish)
    return calls


# Two turns; the last ends with the audio (no trailing silence), so only the flush after
# Terminate yields its final.
ENDS_WITH_THE_AUDIO = [("doctor", "Take it twice a day."), ("patient", "Okay, thanks.")]


def ends_with_the_audio() -> bytes:
    script = script_turns(ENDS_WITH_THE_AUDIO)
    script[-1] = type(script[-1])("patient", "Okay, thanks.", 0)
    return script_audio(script)


async def test_missing_termination_resends_the_unflushed_last_turn(
    redis: Any,
    redis_url: str,
    names: StreamNames,
    sim: SttSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last turn ends with the audio (no trailing silence): only the flush after
    Terminate yields its final. The first Terminate goes unanswered (fault injected into
    the simulator): the bridge must not lose that turn."""
    calls = slow_terminate(monkeypatch, [1.5, 0.0])  # the first: over the bridge's wait
    settings = bridge_settings(redis_url, names, sim.url, terminate_timeout_s=0.5)
    async with running_bridge(settings):
        await play_encounter(redis, names, "term-2", ends_with_the_audio())
        out = await wait_for_outcome(redis, names, ["term-2"])
    assert isinstance(out["term-2"], EncounterTranscribed)
    turns = await turns_of(redis, names, "term-2")
    assert [t.text for t in turns] == [text for _, text in ENDS_WITH_THE_AUDIO]
    assert calls[0] >= 2


async def test_a_slow_termination_gets_longer_waits_before_a_gap(
    redis: Any,
    redis_url: str,
    names: StreamNames,
    sim: SttSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server slow to answer Terminate (a loaded host, a long last turn): every answer
    takes 2.5 s. The bridge waits 1 s, then 2 s, then 4 s: the third session's answer
    arrives within its wait and the last turn is kept, no gap (before, two unanswered
    waits of the same length recorded one)."""
    calls = slow_terminate(monkeypatch, [2.5])
    settings = bridge_settings(redis_url, names, sim.url, terminate_timeout_s=1.0)
    async with running_bridge(settings):
        await play_encounter(redis, names, "term-3", ends_with_the_audio())
        out = await wait_for_outcome(redis, names, ["term-3"])
    done = out["term-3"]
    assert isinstance(done, EncounterTranscribed)
    assert done.gap_seqs == ()
    turns = await turns_of(redis, names, "term-3")
    assert [t.text for t in turns] == [text for _, text in ENDS_WITH_THE_AUDIO]
    assert calls[0] >= 3  # two unanswered waits before the one long enough


async def test_time_spent_sending_is_not_taken_for_missing_audio(
    redis: Any,
    redis_url: str,
    names: StreamNames,
    sim: SttSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server slow to take audio in (a loaded host): the bridge's sends wait on the
    socket, so sending what it read takes seconds, far longer than the 0.2 s it waits for
    frames missing at the stop. That is time spent sending, not waiting for audio: the
    visit must end complete (before, the bridge logged audio_frames_missing_at_stop as
    soon as it ran out of what it had read and cut the visit short; the PostgreSQL
    clinic-month lost 5 of a visit's 59 turns that way)."""
    import asyncio

    from services.stt_bridge import session

    original = session._Session._send

    async def slow_send(self: Any, chunk: bytes) -> None:
        await asyncio.sleep(0.03)  # each send waits on the socket (the server reads slowly)
        await original(self, chunk)

    monkeypatch.setattr(session._Session, "_send", slow_send)
    lines = [
        ("doctor", "Good morning, what brings you in today?"),
        ("patient", "I have had a cough for about two weeks now and it is worse at night."),
        ("doctor", "Any fever, chills or shortness of breath with it?"),
        ("patient", "No fever, but I do get a little short of breath on the stairs."),
        ("doctor", "Let us listen to your lungs and get a chest x-ray today."),
    ]
    settings = bridge_settings(redis_url, names, sim.url, stop_wait_s=0.2, chunk_ms=50)
    async with running_bridge(settings):
        await play_encounter(redis, names, "backlog-1", script_audio(script_turns(lines)))
        out = await wait_for_outcome(redis, names, ["backlog-1"], timeout=120)
    done = out["backlog-1"]
    assert isinstance(done, EncounterTranscribed)
    assert done.gap_seqs == ()
    turns = await turns_of(redis, names, "backlog-1")
    assert [t.text for t in turns] == [text for _, text in lines]
