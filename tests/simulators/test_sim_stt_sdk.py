"""Fidelity: the official `assemblyai` SDK (streaming v3 client) against the simulator."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from assemblyai.streaming.v3 import (
    AsyncStreamingClient,
    BeginEvent,
    SpeechModel,
    StreamingClient,
    StreamingClientOptions,
    StreamingError,
    StreamingEvents,
    StreamingParameters,
    StreamingSessionParameters,
    TerminationEvent,
    TurnEvent,
)

from shared.acibench import Dialogue
from simulators.codec import ScriptTurn, encode, read_wav, script_from_dialogue, write_wav
from simulators.stt_server import SttSimConfig, run_stt_simulator_in_thread

SCALE = 20.0
# The SDK's own sync client trips a websockets deprecation warning (not ours to fix).
pytestmark = pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning")
CHUNK_MS = 100


@pytest.fixture
def sim_url() -> Iterator[str]:
    url, stop = run_stt_simulator_in_thread(SttSimConfig(time_scale=SCALE, api_keys=("k1",)))
    try:
        yield url
    finally:
        stop()


@dataclass
class Recorder:
    begins: list[BeginEvent] = field(default_factory=list)
    turns: list[TurnEvent] = field(default_factory=list)
    terminations: list[TerminationEvent] = field(default_factory=list)
    errors: list[StreamingError] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def attach(self, client: StreamingClient) -> None:
        client.on(StreamingEvents.Begin, lambda _c, e: self.begins.append(e))
        client.on(StreamingEvents.Turn, lambda _c, e: self.turns.append(e))
        client.on(StreamingEvents.Termination, self._terminated)
        client.on(StreamingEvents.Error, lambda _c, e: self.errors.append(e))

    def _terminated(self, _client: Any, event: TerminationEvent) -> None:
        self.terminations.append(event)
        self.done.set()

    def finals(self) -> list[TurnEvent]:
        return [t for t in self.turns if t.end_of_turn]


def options(host: str, key: str = "k1") -> StreamingClientOptions:
    # generous connect timeout: the default 1 s is tight on a busy shared machine
    return StreamingClientOptions(api_key=key, api_host=host, connect_timeout=10)


def paced_chunks(pcm: bytes, scale: float, chunk_ms: int = CHUNK_MS) -> Iterator[bytes]:
    """50-1000 ms chunks at `scale`x real time (the SDK does not pace by itself)."""
    size = 32 * chunk_ms
    t0 = time.monotonic()
    for i, start in enumerate(range(0, len(pcm), size)):
        delay = t0 + i * chunk_ms / 1000 / scale - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield pcm[start : start + size].ljust(size, b"\0")


def run_session(url: str, pcm: bytes, params: StreamingParameters) -> Recorder:
    host = url.removesuffix("/v3/ws")
    client = StreamingClient(options(host, "k1"))
    rec = Recorder()
    rec.attach(client)
    client.connect(params)
    client.stream(paced_chunks(pcm, SCALE))
    client.disconnect(terminate=True)
    assert rec.done.wait(30), "no Termination"
    return rec


def test_sdk_transcribes_a_full_aci_bench_dialogue_exactly(
    sim_url: str, aci_dialogues: list[Dialogue], tmp_path: Path
) -> None:
    dialogue = next(d for d in aci_dialogues if 1100 <= d.words <= 1300)
    write_wav(tmp_path / "visit.wav", encode(script_from_dialogue(dialogue)))
    pcm, rate = read_wav(tmp_path / "visit.wav")
    assert rate == 16000
    params = StreamingParameters(
        sample_rate=16000,
        speech_model=SpeechModel.u3_rt_pro,
        min_turn_silence=800,
        max_turn_silence=2000,
        speaker_labels=True,
    )
    rec = run_session(sim_url, pcm, params)
    assert not rec.errors
    assert len(rec.begins) == 1
    assert rec.begins[0].id
    finals = rec.finals()
    assert [t.transcript for t in finals] == [t.text for t in dialogue.turns]
    assert [t.turn_order for t in finals] == list(range(len(dialogue.turns)))
    order = list(dict.fromkeys(t.speaker for t in dialogue.turns))  # first appearance
    for turn, final in zip(dialogue.turns, finals, strict=True):
        assert final.speaker_label == "AB"[order.index(turn.speaker)]
        assert final.turn_is_formatted
        assert [w.text for w in final.words] == turn.text.split()
        assert all(w.start < w.end for w in final.words)
    assert rec.terminations[0].audio_duration_seconds == round(len(pcm) / 32000 + 0.05)


def test_sdk_universal_streaming_partials_and_finals(sim_url: str) -> None:
    script = [ScriptTurn("doctor", "how is the cough ?"), ScriptTurn("patient", "Better, thanks.")]
    params = StreamingParameters(
        sample_rate=16000,
        speech_model=SpeechModel.universal_streaming_english,
        format_turns=True,
    )
    rec = run_session(sim_url, encode(script), params)
    assert not rec.errors
    partials = [t for t in rec.turns if not t.end_of_turn]
    assert [t.transcript for t in partials if t.turn_order == 0] == [
        "how", "how is", "how is the", "how is the cough", "how is the cough ?"
    ]  # fmt: skip
    assert [t.transcript for t in rec.finals()] == ["how is the cough ?", "Better, thanks."]
    assert len(rec.terminations) == 1


def test_sdk_reports_server_errors_with_their_codes(sim_url: str) -> None:
    host = sim_url.removesuffix("/v3/ws")
    bad = StreamingClient(options(host, "wrong"))
    rec = Recorder()
    rec.attach(bad)
    bad.connect(StreamingParameters(sample_rate=16000, speech_model=SpeechModel.u3_rt_pro))
    deadline = time.monotonic() + 20
    while not rec.errors and time.monotonic() < deadline:
        time.sleep(0.02)
    bad.disconnect()
    assert [e.code for e in rec.errors] == [1008]

    client = StreamingClient(options(host, "k1"))
    rec = Recorder()
    rec.attach(client)
    client.connect(StreamingParameters(sample_rate=16000, speech_model=SpeechModel.u3_rt_pro))
    client.stream(bytes(100))  # 3 ms: too short
    deadline = time.monotonic() + 20
    while not rec.errors and time.monotonic() < deadline:
        time.sleep(0.02)
    client.disconnect()
    assert [e.code for e in rec.errors] == [3007]
    assert len(rec.begins) == 1


def test_sdk_controls_force_endpoint_and_set_params(sim_url: str) -> None:
    host = sim_url.removesuffix("/v3/ws")
    client = StreamingClient(options(host, "k1"))
    rec = Recorder()
    rec.attach(client)
    client.connect(
        StreamingParameters(
            sample_rate=16000,
            speech_model=SpeechModel.u3_rt_pro,
            min_turn_silence=100,
            max_turn_silence=10000,
            inactivity_timeout=3600,
        )
    )
    pcm = encode([ScriptTurn("dr", "one two", pause_ms=0)])[:-640]  # no end mark
    client.stream(paced_chunks(pcm, SCALE))
    client.keep_alive()
    client.force_endpoint()
    client.set_params(StreamingSessionParameters(max_turn_silence=300))
    client.stream(paced_chunks(encode([ScriptTurn("dr", "three", pause_ms=0)])[:-640]
                               + bytes(32 * 600), SCALE))  # fmt: skip
    deadline = time.monotonic() + 20
    while len(rec.finals()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    client.disconnect(terminate=True)
    assert not rec.errors
    assert [t.transcript for t in rec.finals()] == ["one two", "three"]


async def test_async_sdk_client_completes_a_session() -> None:
    from simulators.stt_server import start_stt_simulator

    async with await start_stt_simulator(SttSimConfig(time_scale=SCALE, api_keys=("k1",))) as sim:
        finals: list[str] = []
        done = asyncio.Event()
        client = AsyncStreamingClient(options(sim.base_url, "k1"))
        client.on(StreamingEvents.Turn, lambda _c, e: finals.append(e.transcript)
                  if e.end_of_turn else None)  # fmt: skip
        client.on(StreamingEvents.Termination, lambda _c, _e: done.set())
        await client.connect(
            StreamingParameters(sample_rate=16000, speech_model=SpeechModel.u3_rt_pro)
        )
        pcm = encode([ScriptTurn("doctor", "take it twice a day ."), ScriptTurn("patient", "ok")])
        for i in range(0, len(pcm), 3200):
            await client.stream(pcm[i : i + 3200].ljust(3200, b"\0"))
            await asyncio.sleep(0.1 / SCALE)
        await client.disconnect(terminate=True)
        await asyncio.wait_for(done.wait(), 20)
        assert finals == ["take it twice a day .", "ok"]
