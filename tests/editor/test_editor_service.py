"""The editor service end to end: real Redis streams, the LLM simulator over HTTP."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from services.editor.state import EditorState, EditOutcome
from shared.contracts import EncounterStarted, StreamNames, SttSettings
from shared.logging import configure_logging
from shared.prompts import EDIT_PROMPT_VERSION
from shared.streams import publish
from simulators.llm_behaviour import edit_turn
from simulators.llm_server import LlmSimConfig, LlmSimulator, start_llm_simulator
from tests.editor.support import (
    MODEL,
    RunningEditor,
    editors,
    make_turn,
    publish_turns,
    settings_for,
    wait_for_edited,
)
from tests.helpers.procs import free_port

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def sim() -> AsyncIterator[LlmSimulator]:
    async with await start_llm_simulator(LlmSimConfig(seed=11)) as s:
        yield s


async def test_edits_with_encounter_model_context_and_flags(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    started = EncounterStarted(
        encounter_id="enc-a",
        room="exam-1",
        llm_model="gemini-2.5-flash",
        stt=SttSettings(keyterms=("metformin", "lisinopril")),
    )
    await publish(redis, names.control, started)
    texts = ["i take metforman every day", "Any allergies to medications?", "and lisinipril too"]
    async with RunningEditor(settings_for(redis_url, names, sim)):
        for seq, text in enumerate(texts):  # live pace: one turn after the other
            await publish_turns(redis, names, [make_turn("enc-a", seq, text)])
            await wait_for_edited(redis, names, seq + 1)
    out = await wait_for_edited(redis, names, 3)
    assert [t.seq for t in out] == [0, 1, 2]
    assert [t.edited_text for t in out] == [edit_turn(t) for t in texts]
    assert [t.edit_status for t in out] == ["edited", "unchanged", "edited"]
    assert {t.llm_model for t in out} == {"gemini-2.5-flash"}
    assert out[0].text == texts[0]  # the original stays beside the edit
    assert ("medication", "metformin") in [(f.kind, f.term) for f in out[0].flags]
    last = sim.stats.recent[-1]
    assert last["temperature"] == 0.2
    assert last["max_tokens"] == 600
    user = last["messages"][-1]["content"]
    assert (
        "<context>\ni take metforman every day\nAny allergies to medications?\n</context>" in user
    )
    assert '"lisinopril"' in user  # keyterms of the encounter
    assert out[2].edited_text == "And lisinopril too."  # context not copied into the edit


async def test_500_turns_with_5xx_and_429_bursts_published_exactly_once(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    sim.config.error_rate = 0.2
    turns = [make_turn(f"enc-{e:02d}", s) for e in range(20) for s in range(25)]
    duplicates = turns[::17]  # the bridge's at-least-once delivery: some turns twice

    async def bursts(stop: asyncio.Event) -> None:
        for _ in range(3):  # three bursts of 429s while the backlog drains
            sim.config.throttle_next = 15
            await asyncio.sleep(1.5)

    stop = asyncio.Event()
    burst_task = asyncio.create_task(bursts(stop))
    settings = settings_for(redis_url, names, sim, breaker_failures=50)
    try:
        async with RunningEditor(settings) as editor:
            await publish_turns(redis, names, turns[:250])
            await publish_turns(redis, names, duplicates)
            await publish_turns(redis, names, turns[250:])
            out = await wait_for_edited(redis, names, 500, timeout=90)
    finally:
        stop.set()
        await burst_task
    keys = Counter((t.encounter_id, t.seq) for t in out)
    assert len(out) == 500
    assert set(keys) == {(t.encounter_id, t.seq) for t in turns}
    assert max(keys.values()) == 1
    statuses = Counter(t.edit_status for t in out)
    assert statuses["fallback"] <= 10, statuses  # retries absorbed nearly every fault
    assert sim.stats.count(status=503) > 40  # the faults really happened
    assert sim.stats.count(status=429) > 0
    assert editor.metrics.duplicates._value.get() >= len(duplicates)  # type: ignore[attr-defined]


async def test_gateway_down_for_the_whole_run_publishes_fallbacks(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    sim.config.down = True
    turns = [make_turn(f"enc-{e}", s) for e in range(4) for s in range(10)]
    settings = settings_for(
        redis_url,
        names,
        sim,
        gateway_max_attempts=2,
        breaker_failures=3,
        breaker_cooldown_s=60,
        max_inflight=4,
    )
    async with RunningEditor(settings):
        await publish_turns(redis, names, turns)
        out = await wait_for_edited(redis, names, 40)
    assert len(out) == 40
    assert {t.edit_status for t in out} == {"fallback"}
    assert all(t.edited_text == t.text for t in out)
    reasons = Counter((t.edit_reason or "").split(":")[0] for t in out)
    assert set(reasons) <= {"gateway_unavailable", "gateway_circuit_open"}
    assert reasons["gateway_circuit_open"] > 0
    # The open circuit spared the gateway: only the requests already in flight when it
    # opened were made (at most 4 in flight x 2 attempts, plus the 3 that opened it).
    assert sim.stats.count(status=503) <= 14


async def test_circuit_probe_recovers_when_the_gateway_returns(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    sim.config.down = True
    settings = settings_for(
        redis_url, names, sim, gateway_max_attempts=1, breaker_failures=1, breaker_cooldown_s=0.2
    )
    async with RunningEditor(settings):
        await publish_turns(redis, names, [make_turn("enc-r", 0)])
        await wait_for_edited(redis, names, 1)
        sim.config.down = False
        await asyncio.sleep(0.3)
        await publish_turns(redis, names, [make_turn("enc-r", 1)])
        out = await wait_for_edited(redis, names, 2)
    assert [t.edit_status for t in out] == ["fallback", "edited"]


async def test_fabricated_reply_keeps_the_original(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    sim.config.fabricate = True
    async with RunningEditor(settings_for(redis_url, names, sim)):
        await publish_turns(redis, names, [make_turn("enc-f", 0, "i take metforman")])
        (turn,) = await wait_for_edited(redis, names, 1)
    assert turn.edit_status == "fallback"
    assert turn.edited_text == "i take metforman"
    assert turn.edit_reason == "added_number+added_drug"


async def test_limiter_holds_the_rate_across_three_workers(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    sim.config.rpm_per_model, sim.config.rpm_window_s = 4, 1.0
    turns = [make_turn(f"enc-{e}", s) for e in range(3) for s in range(20)]
    # The margin covers transit between our admission and the gateway's count: on a loaded
    # machine that can take most of a second, so it is generous here (still 3x under what
    # three unshared workers would send).
    common = {"rpm_per_model": 4, "rate_window_s": 1.0, "rate_margin_s": 1.0, "workers": 1}
    settings = [settings_for(redis_url, names, sim, consumer=f"w{i}", **common) for i in range(3)]
    async with editors(*settings) as running:
        await publish_turns(redis, names, turns)
        out = await wait_for_edited(redis, names, 60, timeout=90)
    assert Counter((t.encounter_id, t.seq) for t in out) == Counter(
        (t.encounter_id, t.seq) for t in turns
    )
    assert sim.stats.count(status=429) == 0  # the shared limiter kept every worker in quota
    assert sim.stats.max_in_window(MODEL, 1.0) <= 4
    assert sim.stats.tasks["edit_batch"] > 0  # the backlog was merged per encounter
    assert {t.edit_status for t in out} <= {"edited", "unchanged"}
    assert sum(r.metrics.merged_turns._value.get() for r in running) > 20  # type: ignore[attr-defined]
    for e in range(3):  # merged turns come back split, each to its own seq
        mine = [t for t in out if t.encounter_id == f"enc-{e}"]
        assert [t.edited_text for t in sorted(mine, key=lambda t: t.seq)] == [
            edit_turn(make_turn("x", s).text) for s in range(20)
        ]


async def test_malformed_entries_are_dead_lettered(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    bad: Any = {"v": "1", "type": "FinalTurn", "data": "{not json"}
    old: Any = {"v": "0", "type": "FinalTurn", "data": "{}"}
    await redis.xadd(names.turns, bad)
    await redis.xadd(names.turns, old)
    await publish_turns(redis, names, [make_turn("enc-p", 0)])
    async with RunningEditor(settings_for(redis_url, names, sim)):
        out = await wait_for_edited(redis, names, 1)
    assert [t.encounter_id for t in out] == ["enc-p"]
    dead: Any = await redis.xrange(names.dead)
    assert len(dead) == 2
    assert all(f[b"dead:reason"].startswith(b"malformed") for _id, f in dead)


async def test_redelivery_is_neither_published_twice_nor_paid_twice(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    state = EditorState(redis, names, prompt_version=EDIT_PROMPT_VERSION, result_ttl_s=600)
    # A worker that edited turn 1 and crashed before publishing left its result cached.
    cached = EditOutcome("Cached edit of turn one.", "edited", "gemini-2.5-flash")
    await state.store_result(make_turn("enc-d", 1), cached)
    async with RunningEditor(settings_for(redis_url, names, sim)):
        await publish_turns(redis, names, [make_turn("enc-d", 0)])
        await wait_for_edited(redis, names, 1)
        calls = sim.stats.count(status=200)
        await publish_turns(redis, names, [make_turn("enc-d", 0), make_turn("enc-d", 1)])
        out = await wait_for_edited(redis, names, 2)
    assert [(t.seq, t.edited_text) for t in out][1] == (1, "Cached edit of turn one.")
    assert len(out) == 2
    assert sim.stats.count(status=200) == calls  # neither the duplicate nor the cached turn paid


async def test_health_metrics_and_phi_free_logs(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    canary = "patient Zebediah Quartermaine takes metforman"
    out = io.StringIO()
    configure_logging("DEBUG", "json", "editor", stream=out)
    port = free_port()
    settings = settings_for(redis_url, names, sim, health_port=port, fallback_models=("gone-1",))
    async with RunningEditor(settings):
        await publish_turns(redis, names, [make_turn("enc-h", 0, canary)])
        await wait_for_edited(redis, names, 1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 200
            metrics = (await http.get("/metrics")).text
    assert 'medscribe_editor_edits_total{status="edited"} 1.0' in metrics
    assert "medscribe_editor_gateway_latency_seconds_bucket" in metrics
    text = out.getvalue()
    assert "Zebediah" not in text
    assert "metforman" not in text
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert {"event": "model_not_offered", "model": "gone-1"}.items() <= next(
        e for e in events if e["event"] == "model_not_offered"
    ).items()
    edited = [e for e in events if e["event"] == "turn_edited"]
    assert edited[0]["encounter_id"] == "enc-h"
    assert edited[0]["seq"] == 0
    assert edited[0]["request_id"]


async def test_last_delivery_publishes_the_turn_unedited(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    await publish_turns(redis, names, [make_turn("enc-l", 0)])
    await redis.xgroup_create(names.turns, "editor", id="0", mkstream=True)
    # A consumer that took the turn and died: its delivery counts.
    await redis.xreadgroup("editor", "crashed", {names.turns: ">"}, count=1)
    settings = settings_for(redis_url, names, sim, max_deliveries=2, claim_idle_ms=200)
    async with RunningEditor(settings):
        (turn,) = await wait_for_edited(redis, names, 1)
    assert (turn.edit_status, turn.edit_reason) == ("fallback", "last_delivery")
    assert turn.edited_text == turn.text
    assert sim.stats.count() == 0  # no gateway call for a turn that already killed workers


async def test_concurrent_duplicates_share_one_gateway_call(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    sim.config.latency_s = 0.5
    async with RunningEditor(settings_for(redis_url, names, sim)):
        await publish_turns(redis, names, [make_turn("enc-2x", 0)] * 3)
        out = await wait_for_edited(redis, names, 1)
    assert len(out) == 1
    assert sim.stats.count(status=200) == 1


async def test_readiness_names_a_rejected_gateway_key_until_it_is_accepted(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    port = free_port()
    settings = settings_for(
        redis_url, names, sim, health_port=port, assemblyai_api_key=SecretStr("wrong-key")
    )
    async with (
        RunningEditor(settings),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http,
    ):

        async def readyz() -> httpx.Response:
            while True:
                try:
                    return await http.get("/readyz")
                except httpx.TransportError:
                    await asyncio.sleep(0.05)

        await publish_turns(redis, names, [make_turn("enc-k", 0)])
        out = await wait_for_edited(redis, names, 1)
        assert out[0].edit_status == "fallback"  # published unedited, not lost
        rejected = await readyz()
        assert rejected.status_code == 503
        assert rejected.json() == {"status": "not_ready", "reason": "llm_gateway_key_rejected"}
        assert "wrong-key" not in rejected.text

        sim.config.api_keys = ("sim-key", "wrong-key")  # the key was fixed at AssemblyAI
        await publish_turns(redis, names, [make_turn("enc-k", 1)])
        await wait_for_edited(redis, names, 2)
        assert (await readyz()).json() == {"status": "ready"}
