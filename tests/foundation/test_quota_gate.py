"""The notes' SOAP calls share the editor's per-model quota (issue 22 point 5): a gate in
front of the gateway client waits for a slot of the same Redis limiter, and a wait longer
than its bound fails as the gateway's 429s would, so the note is deferred, not lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from services.editor.config import EditorSettings
from shared.contracts import StreamNames
from shared.gateway import GatewayClient
from shared.gateway_types import GatewayUnavailable
from shared.rate_limit import QuotaGate, RateLimiter
from simulators.llm_server import LlmSimConfig, LlmSimulator, start_llm_simulator

MODEL = "claude-haiku-4-5-20251001"
MESSAGES = [{"role": "user", "content": "Patient: my knee hurts"}]


@pytest.fixture
async def sim() -> AsyncIterator[LlmSimulator]:
    async with await start_llm_simulator(LlmSimConfig(seed=3)) as s:
        yield s


async def test_a_soap_call_waits_for_the_slot_the_editor_left_free(
    redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    sim.config.rpm_per_model, sim.config.rpm_window_s = 2, 1.0
    editor = RateLimiter(redis, names.llm_rate_prefix, limit=2, window_s=1.0, margin_s=0.3)
    notes = RateLimiter(redis, names.llm_rate_prefix, limit=2, window_s=1.0, margin_s=0.3)
    filled = time.monotonic()
    assert [await editor.try_acquire(MODEL) for _ in range(2)] == [0.0, 0.0]  # window spent
    stop = asyncio.Event()
    client = GatewayClient(
        sim.base_url, SecretStr("sim-key"), max_attempts=1, deadline_s=10,
        admit=QuotaGate(notes, stop, give_up_s=5.0),
    )  # fmt: skip
    try:
        reply = await client.chat(MODEL, MESSAGES, max_tokens=50)
        assert reply.text
        assert sim.stats.count(status=429) == 0  # it waited for the window, not the 429
        # the gateway saw it only once the editor's two requests had left the window
        assert sim.stats.accepted_at[MODEL][0] - filled >= 1.0
    finally:
        await client.aclose()


async def test_a_wait_past_its_bound_fails_as_unavailable_and_sends_nothing(
    redis: aioredis.Redis, names: StreamNames, sim: LlmSimulator
) -> None:
    limiter = RateLimiter(redis, names.llm_rate_prefix, limit=1, window_s=30.0, margin_s=0.0)
    assert await limiter.try_acquire(MODEL) == 0.0
    client = GatewayClient(
        sim.base_url, SecretStr("sim-key"), admit=QuotaGate(limiter, asyncio.Event(), give_up_s=0.3)
    )
    try:
        with pytest.raises(GatewayUnavailable) as raised:
            await client.chat(MODEL, MESSAGES, max_tokens=50)
        assert raised.value.reason == "quota_wait"
        assert sim.stats.count() == 0  # nothing reached the gateway
    finally:
        await client.aclose()


def test_the_editor_leaves_a_reserve_of_each_window_to_the_notes() -> None:
    def limit(rpm: int, reserve: int = 2) -> int | None:
        return EditorSettings(rpm_per_model=rpm, notes_reserve=reserve).edit_limit()

    assert limit(30) == 28
    assert limit(30, reserve=0) == 30
    assert limit(4) == 3  # at most a quarter of a small quota
    assert limit(3) == 3
    assert limit(0) is None  # no quota, no limit
