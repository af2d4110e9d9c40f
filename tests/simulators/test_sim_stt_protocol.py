"""STT simulator protocol, with a raw websockets client: auth, checks, turns, controls."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest

from simulators.codec import ScriptTurn, encode
from simulators.stt_server import SttSimConfig, SttSimulator, start_stt_simulator
from tests.simulators.sim_helpers import (
    begin,
    drain,
    expect_error,
    finals,
    open_session,
    recv_json,
    send_paced,
    terminate,
    turns,
    unfinished_turn,
)

SCALE = 50.0
SCRIPT = [
    ScriptTurn("doctor", "hi , how are you ?"),
    ScriptTurn("patient", "i'm ok, thanks"),
    ScriptTurn("doctor", "Any fever since Monday?"),
]
U3 = "speech_model=u3-rt-pro&min_turn_silence=800&max_turn_silence=2000"
U3_SLOW_MAX = "speech_model=u3-rt-pro&min_turn_silence=200&max_turn_silence=5000"


@pytest.fixture
async def sim() -> AsyncIterator[SttSimulator]:
    async with await start_stt_simulator(
        SttSimConfig(time_scale=SCALE, api_keys=("k1", "k2"))
    ) as s:
        yield s


async def run_script(sim: SttSimulator, query: str, script: list[ScriptTurn] = SCRIPT) -> list:
    ws = await open_session(sim, query)
    await begin(ws)
    await send_paced(ws, encode(script), SCALE)
    return await terminate(ws)


# -- auth ------------------------------------------------------------------------------


async def test_api_key_header_opens_a_session_with_begin(sim: SttSimulator) -> None:
    ws = await open_session(sim, U3, key="k2")
    msg = await begin(ws)
    assert isinstance(msg["id"], str)
    assert len(msg["id"]) == 36
    assert isinstance(msg["expires_at"], int)
    assert abs(msg["expires_at"] - (time.time() + 10800 / SCALE)) < 60
    done = await terminate(ws)
    term = done[-1]
    assert (term["type"], term["audio_duration_seconds"]) == ("Termination", 0)
    # Scaled wall time of the session: 0 on an idle machine, more on a loaded one.
    assert isinstance(term["session_duration_seconds"], int)
    assert term["session_duration_seconds"] >= 0


@pytest.mark.parametrize(("key", "reason"), [("nope", "Invalid API key"), (None, "Missing")])
async def test_bad_or_missing_key_gets_1008(
    sim: SttSimulator, key: str | None, reason: str
) -> None:
    ws = await open_session(sim, U3, key=key)
    err = await expect_error(ws, 1008)
    assert err["error"].startswith("Unauthorized Connection")
    assert reason in err["error"]
    assert sim.stats.sessions_opened == 0


async def test_temporary_token_in_query_or_header_is_single_use(sim: SttSimulator) -> None:
    http_url = sim.base_url.replace("ws://", "http://") + "/v3/token"
    async with httpx.AsyncClient() as http:
        bad = await http.get(http_url, params={"expires_in_seconds": 60})
        assert bad.status_code == 401
        out_of_range = await http.get(
            http_url, params={"expires_in_seconds": 601}, headers={"Authorization": "k1"}
        )
        assert out_of_range.status_code == 400
        tokens = []
        for _ in range(2):
            r = await http.get(
                http_url, params={"expires_in_seconds": 60}, headers={"Authorization": "k1"}
            )
            assert r.status_code == 200
            assert r.json()["expires_in_seconds"] == 60
            tokens.append(r.json()["token"])
    ws = await open_session(sim, f"{U3}&token={tokens[0]}", key=None)
    await begin(ws)
    await terminate(ws)
    assert tokens[0] not in sim.sessions[-1].query  # credentials are not kept
    ws = await open_session(sim, U3, key=tokens[1])  # the Python SDK's way: header
    await begin(ws)
    await terminate(ws)
    again = await open_session(sim, f"{U3}&token={tokens[0]}", key=None)
    await expect_error(again, 1008)


async def test_token_max_session_duration_caps_the_session(sim: SttSimulator) -> None:
    http_url = sim.base_url.replace("ws://", "http://") + "/v3/token"
    params = {"expires_in_seconds": 60, "max_session_duration_seconds": 60}
    async with httpx.AsyncClient() as http:
        r = await http.get(http_url, params=params, headers={"Authorization": "k1"})
    ws = await open_session(sim, U3, key=r.json()["token"])
    msg = await begin(ws)
    assert abs(msg["expires_at"] - (time.time() + 60 / SCALE)) < 5
    await expect_error(ws, 3008)  # 60 scaled seconds = 1.2 s of wall time


# -- audio checks ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1598, 32002, 2])
async def test_chunk_outside_50_to_1000_ms_gets_3007(sim: SttSimulator, size: int) -> None:
    ws = await open_session(sim, U3)
    await begin(ws)
    await ws.send(bytes(size))
    err = await expect_error(ws, 3007)
    assert "Expected between 50 and 1000 ms" in err["error"]


async def test_mulaw_chunk_duration_uses_one_byte_per_sample(sim: SttSimulator) -> None:
    ws = await open_session(sim, f"{U3}&encoding=pcm_mulaw&sample_rate=8000")
    await begin(ws)
    await ws.send(bytes(400))  # 50 ms of 8 kHz mu-law
    await ws.send(bytes(399))
    await expect_error(ws, 3007)


async def test_faster_than_real_time_beyond_lookahead_gets_3007(sim: SttSimulator) -> None:
    sim.config.lookahead_s = 2.0
    ws = await open_session(sim, U3)
    await begin(ws)
    for _ in range(10):  # 10 s of audio at once, far ahead of the (scaled) clock
        await ws.send(bytes(32000))
    err = await expect_error(ws, 3007)
    assert err["error"].startswith("Audio Transmission Rate Exceeded")


async def test_paced_client_at_time_scale_is_accepted(sim: SttSimulator) -> None:
    sim.config.lookahead_s = 1.0  # strict: only the scaled clock makes this pass
    msgs = await run_script(sim, U3)
    assert finals(msgs) == [t.text for t in SCRIPT]


# -- control messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "text"),
    [("{not json", "Invalid JSON"), ('{"type": "Dance"}', "Invalid Message Type"),
     ("[]", "Invalid Message"), ('{"no": "type"}', "Invalid Message Type")],
)  # fmt: skip
async def test_bad_text_frames_get_3006(sim: SttSimulator, frame: str, text: str) -> None:
    ws = await open_session(sim, U3)
    await begin(ws)
    await ws.send(frame)
    err = await expect_error(ws, 3006)
    assert err["error"].startswith(text)


async def test_force_endpoint_ends_the_turn_now(sim: SttSimulator) -> None:
    ws = await open_session(sim, U3)
    await begin(ws)
    pcm = encode([ScriptTurn("dr", "hello world")])
    await ws.send(pcm[: 9 * 640])  # header (4 symbols) + "hello": 180 ms
    await ws.send(json.dumps({"type": "ForceEndpoint"}))
    msgs = [await recv_json(ws), await recv_json(ws)]
    assert msgs[0]["type"] == "SpeechStarted"
    assert msgs[1]["end_of_turn"] is True
    assert msgs[1]["transcript"] == "hello"
    await send_paced(ws, pcm[9 * 640 :], SCALE)
    rest = await terminate(ws)
    assert finals(rest) == ["world"]
    assert [t["turn_order"] for t in turns(rest) if t["end_of_turn"]] == [1]


async def test_u3_partial_per_silence_then_final_at_max_silence(sim: SttSimulator) -> None:
    ws = await open_session(sim, "speech_model=u3-rt-pro&min_turn_silence=200&max_turn_silence=900")
    await begin(ws)
    pcm = unfinished_turn("dr", "so the pain", 500) + unfinished_turn("dr", "started", 1000)
    await send_paced(ws, pcm, SCALE)
    msgs = await terminate(ws)
    t = [(m["transcript"], m["end_of_turn"], m["turn_is_formatted"]) for m in turns(msgs)]
    assert t == [
        ("so the pain", False, False),  # 200 ms of silence, no end: one partial
        ("so the pain started", False, False),
        ("so the pain started", True, True),  # forced at 900 ms
    ]
    partial = turns(msgs)[0]
    assert partial["end_of_turn_confidence"] == 0
    assert not any(w["word_is_final"] for w in partial["words"])


async def test_u3_terminal_punctuation_ends_the_turn_at_min_silence(sim: SttSimulator) -> None:
    ws = await open_session(
        sim, "speech_model=u3-rt-pro&min_turn_silence=200&max_turn_silence=5000"
    )
    await begin(ws)
    await send_paced(ws, unfinished_turn("dr", "it hurts.", 400), SCALE)
    msg = await recv_json(ws)
    while msg["type"] != "Turn":
        msg = await recv_json(ws)
    assert (msg["transcript"], msg["end_of_turn"], msg["utterance"]) == (
        "it hurts.",
        True,
        "it hurts.",
    )
    assert msg["end_of_turn_confidence"] == 1
    await terminate(ws)


async def test_update_configuration_changes_turn_silences(sim: SttSimulator) -> None:
    ws = await open_session(
        sim, "speech_model=u3-rt-pro&min_turn_silence=200&max_turn_silence=5000"
    )
    await begin(ws)
    await ws.send(json.dumps({"type": "UpdateConfiguration", "max_turn_silence": 400}))
    await send_paced(ws, unfinished_turn("dr", "well", 600), SCALE)
    msgs = [await recv_json(ws) for _ in range(3)]  # SpeechStarted, partial, final
    assert [(m.get("transcript"), m.get("end_of_turn")) for m in msgs[1:]] == [
        ("well", False), ("well", True)
    ]  # fmt: skip
    await ws.send(json.dumps({"type": "UpdateConfiguration", "max_turn_silence": "x"}))
    await expect_error(ws, 3006)


async def test_keepalive_holds_inactivity_timeout_then_session_ends(sim: SttSimulator) -> None:
    sim.config.time_scale = 2.5  # inactivity_timeout=5 s -> 2 s of wall time
    ws = await open_session(sim, f"{U3}&inactivity_timeout=5")
    await begin(ws)
    t_end = time.monotonic() + 3.0
    while time.monotonic() < t_end:
        await ws.send(json.dumps({"type": "KeepAlive"}))
        await asyncio.sleep(0.1)
    assert ws.close_code is None
    msgs = await drain(ws)  # now idle: the server terminates the session
    assert msgs[-1]["type"] == "Termination"
    assert ws.close_code == 1000


async def test_terminate_flushes_the_open_turn(sim: SttSimulator) -> None:
    ws = await open_session(sim, U3)
    await begin(ws)
    await send_paced(ws, unfinished_turn("dr", "and then", 100), SCALE)
    msgs = await terminate(ws)
    assert finals(msgs) == ["and then"]
    term = msgs[-1]
    assert isinstance(term["audio_duration_seconds"], int)
    assert isinstance(term["session_duration_seconds"], int)


# -- limits and injected faults --------------------------------------------------------


async def test_session_cap_by_audio_gets_3008(sim: SttSimulator) -> None:
    sim.config.max_session_s = 2.0
    ws = await open_session(sim, U3)
    await begin(ws)
    for _ in range(3):
        await ws.send(bytes(32000))
    err = await expect_error(ws, 3008)
    assert "Maximum session duration" in err["error"]


async def test_session_cap_by_clock_gets_3008(sim: SttSimulator) -> None:
    sim.config.max_session_s = 5.0  # 0.1 s of wall time at 50x
    ws = await open_session(sim, U3)
    await begin(ws)
    await expect_error(ws, 3008)


async def test_drop_gives_1006_and_can_be_switched_off(sim: SttSimulator) -> None:
    sim.config.drop_every_s = 2.0
    ws = await open_session(sim, U3)
    await begin(ws)
    msgs = await drain(ws)
    assert msgs == []
    assert ws.close_code == 1006
    sim.config.drop_every_s = None
    await run_script(sim, U3)
    assert sim.stats.closed_by_code[1006] == 1


async def test_error_after_n_seconds_gets_3005(sim: SttSimulator) -> None:
    sim.config.error_after_s = 1.0
    ws = await open_session(sim, U3)
    await begin(ws)
    err = await expect_error(ws, 3005)
    assert err["error"] == "Session Cancelled: An error occurred"


@pytest.mark.parametrize("code", [1008, 3009])
async def test_new_session_rate_limit(code: int) -> None:
    config = SttSimConfig(api_keys=("k1",), new_sessions_per_min=2, rate_limit_code=code)
    async with await start_stt_simulator(config) as sim:
        for _ in range(2):
            ws = await open_session(sim, U3)
            await begin(ws)
            await terminate(ws)
        ws = await open_session(sim, U3)
        err = await expect_error(ws, code)
        assert "Too many concurrent sessions" in err["error"]


async def test_max_concurrent_sessions(sim: SttSimulator) -> None:
    sim.config.max_concurrent_sessions = 1
    first = await open_session(sim, U3)
    await begin(first)
    second = await open_session(sim, U3)
    await expect_error(second, 1008)
    await terminate(first)


async def test_slow_begin(sim: SttSimulator) -> None:
    sim.config.begin_delay_s = 0.5  # wall seconds: meant for clients' Begin timeouts
    t0 = time.monotonic()
    ws = await open_session(sim, U3)
    await begin(ws)
    assert time.monotonic() - t0 >= 0.45
    await terminate(ws)


async def test_unknown_speech_model_or_bad_param_is_refused(sim: SttSimulator) -> None:
    ws = await open_session(sim, "speech_model=gpt-voice")
    err = await expect_error(ws, 3006)
    assert "speech_model" in err["error"]
    ws = await open_session(sim, "speech_model=u3-rt-pro&speaker_labels=perhaps")
    await expect_error(ws, 3006)


# -- model families and formatting -----------------------------------------------------


async def test_u3_finals_are_the_exact_text_with_speech_started(sim: SttSimulator) -> None:
    msgs = await run_script(sim, U3)
    assert finals(msgs) == [t.text for t in SCRIPT]
    assert sum(m["type"] == "SpeechStarted" for m in msgs) == 3
    for m in turns(msgs):
        assert m["turn_is_formatted"] == m["end_of_turn"]
        assert "speaker_label" not in m
        for w in m["words"]:
            assert isinstance(w["start"], int)
            assert isinstance(w["end"], int)
            assert "speaker" not in w


async def test_speaker_labels_in_order_of_first_appearance(sim: SttSimulator) -> None:
    msgs = await run_script(sim, f"{U3}&speaker_labels=TRUE")
    labels = [m["speaker_label"] for m in turns(msgs) if m["end_of_turn"]]
    assert labels == ["A", "B", "A"]
    words = [w["speaker"] for m in turns(msgs) if m["end_of_turn"] for w in m["words"]]
    assert set(words) == {"A", "B"}


async def test_universal_streaming_unformatted(sim: SttSimulator) -> None:
    msgs = await run_script(sim, "speech_model=universal-streaming-english&format_turns=False")
    assert finals(msgs) == ["hi how are you", "i'm ok thanks", "any fever since monday"]
    assert not any(m["turn_is_formatted"] for m in turns(msgs))
    assert not any(m["type"] == "SpeechStarted" for m in msgs)
    growing = [m["transcript"] for m in turns(msgs) if m["turn_order"] == 1]
    assert growing == ["i'm", "i'm ok", "i'm ok thanks", "i'm ok thanks"]


async def test_universal_streaming_formatted_single_final(sim: SttSimulator) -> None:
    msgs = await run_script(sim, "speech_model=universal-streaming-english&format_turns=true")
    assert finals(msgs) == [t.text for t in SCRIPT]
    assert all(m["turn_is_formatted"] for m in turns(msgs))


async def test_universal_streaming_legacy_double_final(sim: SttSimulator) -> None:
    sim.config.legacy_double_final = True
    msgs = await run_script(sim, "speech_model=universal-streaming-english&format_turns=true")
    eots = [(m["turn_order"], m["turn_is_formatted"], m["transcript"])
            for m in turns(msgs) if m["end_of_turn"]]  # fmt: skip
    assert eots[:2] == [(0, False, "hi how are you"), (0, True, "hi , how are you ?")]
    assert len(eots) == 6
    assert [e[2] for e in eots if e[1]] == [t.text for t in SCRIPT]
    assert not any(m["turn_is_formatted"] for m in turns(msgs) if not m["end_of_turn"])


async def test_universal_streaming_confidence_threshold(sim: SttSimulator) -> None:
    # No end mark and no punctuation: confidence 0.05 stays below the threshold, so the turn
    # ends only at max_turn_silence (here never within 600 ms).
    q = "speech_model=universal-streaming-english&min_turn_silence=100&max_turn_silence=3000"
    ws = await open_session(sim, q + "&end_of_turn_confidence_threshold=0.5")
    await begin(ws)
    await send_paced(ws, unfinished_turn("dr", "and the", 600), SCALE)
    await ws.send(json.dumps({"type": "UpdateConfiguration",
                              "end_of_turn_confidence_threshold": 0.01}))  # fmt: skip
    await send_paced(ws, bytes(3200), SCALE)
    msg = await recv_json(ws)
    while not msg.get("end_of_turn"):
        msg = await recv_json(ws)
    assert msg["transcript"] == "and the"
    await terminate(ws)


async def test_non_coded_audio_gives_placeholder_turns(sim: SttSimulator) -> None:
    rng = np.random.default_rng(3)
    speech = np.clip(rng.normal(0, 4000, 16000), -32768, 32767).astype("<i2").tobytes()
    ws = await open_session(sim, U3)
    await begin(ws)
    await send_paced(ws, speech + bytes(32000), SCALE)
    msgs = await terminate(ws)
    assert finals(msgs) == ["[speech]"]


async def test_stats_count_sessions_audio_and_turns(sim: SttSimulator) -> None:
    await run_script(sim, U3)
    s = sim.stats
    assert s.sessions_opened == 1
    assert s.closed_by_code[1000] == 1
    assert s.turns_emitted == 3
    assert s.audio_seconds == pytest.approx(len(encode(SCRIPT)) / 32000, abs=0.2)
    record = sim.sessions[-1]
    assert record.params.min_turn_silence == 800
    assert record.close_code == 1000
    assert record.audio_seconds == pytest.approx(s.audio_seconds)


async def test_http_routes_other_than_ws_and_token(sim: SttSimulator) -> None:
    base = sim.base_url.replace("ws://", "http://")
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{base}/v2/realtime/ws")).status_code == 404
        assert (await http.get(f"{base}/v3/ws")).status_code == 426  # needs an upgrade


async def test_seed_makes_session_ids_reproducible() -> None:
    ids = []
    for _ in range(2):
        async with await start_stt_simulator(SttSimConfig(api_keys=("k1",), seed=7)) as sim:
            ws = await open_session(sim, U3)
            ids.append((await begin(ws))["id"])
            await terminate(ws)
    assert ids[0] == ids[1]
