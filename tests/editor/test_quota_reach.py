"""More rooms per model under the gateway's quota (issue 22, point 5): equivalent models,
requests that carry several visits' turns, and the live view's "waiting for quota" mark.
The LLM simulator enforces the quota with 429s; the editor's limiter runs at the same rate."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.editor.dispatch import EditJob, _shared_prompt_parts
from services.editor.waiting import wait_marks
from shared.contracts import EditedTurn, QuotaWait, StreamNames
from simulators.llm_behaviour import edit_turn
from simulators.llm_server import LlmSimConfig, LlmSimulator, start_llm_simulator
from tests.editor.support import (
    MODEL,
    RunningEditor,
    make_turn,
    publish_turns,
    settings_for,
    wait_for_edited,
)

pytestmark = pytest.mark.timeout(120)

OTHER = "gemini-2.5-flash"


@pytest.fixture
async def sim() -> AsyncIterator[LlmSimulator]:
    async with await start_llm_simulator(LlmSimConfig(seed=5)) as s:
        yield s


def _quota(sim: LlmSimulator, rpm: int, window_s: float) -> dict[str, Any]:
    """The simulator's 429 quota and the editor's limiter at the same rate."""
    sim.config.rpm_per_model, sim.config.rpm_window_s = rpm, window_s
    # the margin covers transit between admission and the gateway's count (see
    # test_limiter_holds_the_rate_across_three_workers)
    return {"rpm_per_model": rpm, "rate_window_s": window_s, "rate_margin_s": 1.0}


async def _warmed(redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator) -> int:
    """One turn edited first: the editor loads its meaning checks at start, and a loop
    blocked for seconds sends requests admitted before the block late, all at once (a
    transit no margin covers). Returns the edited-stream length to wait beyond."""
    await publish_turns(redis, names, [make_turn("enc-warm", 0, "any allergies")])
    await wait_for_edited(redis, names, 1)
    stats = sim.stats  # cleared in place: the server holds this object
    for seen in (stats.counts, stats.tasks, stats.accepted_at, stats.recent):
        seen.clear()
    return 1


def _of(out: list[EditedTurn]) -> list[EditedTurn]:
    return [t for t in out if t.encounter_id != "enc-warm"]


def _visits_in(body: dict[str, Any]) -> set[str]:
    """Which visits' turns a request carried (the test turns say their visit's number)."""
    return set(re.findall(r"visit (\d+) ", body["messages"][-1]["content"]))


async def test_equivalent_models_share_the_turns_when_one_has_no_quota(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    turns = [make_turn("enc-a", s) for s in range(12)]
    settings = settings_for(
        redis_url, names, sim, equivalent_models=(MODEL, OTHER), merge_threshold=50,
        **_quota(sim, 3, 2.0),
    )  # fmt: skip
    async with RunningEditor(settings):
        base = await _warmed(redis, names, sim)
        await publish_turns(redis, names, turns)
        out = _of(await wait_for_edited(redis, names, base + 12, timeout=90))
    assert sim.stats.count(status=429) == 0  # each model's own quota was respected
    for model in (MODEL, OTHER):
        assert sim.stats.count(model=model) > 0
        assert sim.stats.max_in_window(model, 2.0) <= 3
    assert {t.edit_status for t in out} <= {"edited", "unchanged"}
    assert {t.llm_model for t in out} == {MODEL, OTHER}  # each turn says which model edited it
    by_seq = {t.seq: t.edited_text for t in out}
    assert [by_seq[s] for s in range(12)] == [edit_turn(t.text) for t in turns]


async def test_a_model_outside_the_group_is_never_swapped(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    settings = settings_for(
        redis_url, names, sim, equivalent_models=("gemini-2.5-pro", OTHER), **_quota(sim, 2, 1.0)
    )
    async with RunningEditor(settings):
        base = await _warmed(redis, names, sim)
        await publish_turns(redis, names, [make_turn("enc-a", s) for s in range(6)])
        out = _of(await wait_for_edited(redis, names, base + 6, timeout=90))
    assert {t.llm_model for t in out} == {MODEL}  # the clinic did not list MODEL as equivalent
    assert sim.stats.count(model=OTHER) == 0


async def test_one_request_carries_several_visits_each_edited_on_its_own(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    turns = [
        make_turn(f"enc-{v}", s, f"visit {v} says the chest pain started on monday {s}")
        for v in range(6)
        for s in range(2)
    ]
    settings = settings_for(
        redis_url, names, sim, merge_across_encounters=True, workers=1, **_quota(sim, 2, 3.0)
    )
    async with RunningEditor(settings):
        base = await _warmed(redis, names, sim)
        await publish_turns(redis, names, turns)
        out = _of(await wait_for_edited(redis, names, base + len(turns), timeout=90))
    assert sim.stats.count(status=429) == 0
    batches = [b for b in sim.stats.recent if len(_visits_in(b)) > 1]
    assert batches, "no request carried more than one visit's turns"
    for body in batches:  # another visit's words never go along as context
        assert "<context>" not in body["messages"][-1]["content"]
    assert Counter((t.encounter_id, t.seq) for t in out) == Counter(
        (t.encounter_id, t.seq) for t in turns
    )
    for t in out:  # split back: each edit is its own turn's, none took another visit's words
        assert t.edited_text == edit_turn(t.text)
        assert f"visit {t.encounter_id.split('-')[1]} " in t.edited_text.lower()
    assert len(sim.stats.recent) < len(turns)  # fewer requests than turns


def test_merged_requests_share_only_what_every_visit_has() -> None:
    loop = asyncio.new_event_loop()
    try:

        def job(eid: str, seq: int, keyterms: tuple[str, ...], context: tuple[str, ...]) -> EditJob:
            return EditJob(make_turn(eid, seq), MODEL, keyterms, context, loop.create_future())

        same = [job("a", 0, ("metformin",), ("ctx a",)), job("a", 1, ("insulin",), ("ctx a",))]
        assert _shared_prompt_parts(same) == (("ctx a",), ("metformin", "insulin"))
        mixed = [
            job("a", 0, ("clinic", "metformin"), ("ctx a",)),
            job("b", 0, ("clinic", "warfarin"), ("ctx b",)),
        ]
        assert _shared_prompt_parts(mixed) == ((), ("clinic",))
    finally:
        loop.close()


async def test_visits_waiting_for_quota_are_marked_for_the_live_view(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    settings = settings_for(redis_url, names, sim, workers=1, **_quota(sim, 1, 4.0))
    texts = [f"the chest pain started on monday {s}" for s in range(3)]
    seen: dict[str, Any] = {}
    async with RunningEditor(settings):
        base = await _warmed(redis, names, sim)
        await publish_turns(redis, names, [make_turn("enc-w", s, texts[s]) for s in range(3)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not seen:
            raw = await redis.get(names.editor_quota_wait("enc-w"))
            if raw:
                seen = json.loads(raw)
            await asyncio.sleep(0.1)
        await wait_for_edited(redis, names, base + 3, timeout=90)
        assert seen, "the waiting visit was never marked"
        assert set(seen) == {"turns", "since_ms"}  # counts and times, no words
        assert 1 <= seen["turns"] <= 2
        assert abs(seen["since_ms"] / 1000 - time.time()) < 60
        raw = await redis.get(names.editor_quota_wait("enc-w"))
        for word in ("chest", "pain", "monday"):
            assert word not in (raw or b"").decode()
        cleared = time.monotonic() + 10
        while await redis.exists(names.editor_quota_wait("enc-w")):
            assert time.monotonic() < cleared, "the mark outlived the wait"
            await asyncio.sleep(0.2)


def test_wait_marks_count_turns_per_visit_from_the_oldest() -> None:
    marks = wait_marks([("a", 95.0), ("b", 99.0), ("a", 98.0)], now_wall=1000.0, now_mono=100.0)
    assert marks == {
        "a": QuotaWait(turns=2, since_ms=995_000),
        "b": QuotaWait(turns=1, since_ms=999_000),
    }
