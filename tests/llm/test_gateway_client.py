"""The gateway client against the real simulator over HTTP: retries, budgets, errors, logs."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from shared.gateway import (
    AttemptEvent,
    GatewayAuthError,
    GatewayClient,
    GatewayRejected,
    GatewayUnavailable,
    error_code,
    error_request_id,
    parse_retry_after,
)
from shared.logging import configure_logging
from shared.prompts import build_edit_messages
from simulators.llm_server import LlmSimConfig, LlmSimulator, start_llm_simulator
from tests.helpers.procs import free_port

MODEL = "claude-sonnet-4-6"
CANARY = "patient Zebediah Quartermaine takes metforman"


@pytest.fixture
async def sim() -> AsyncIterator[LlmSimulator]:
    async with await start_llm_simulator(LlmSimConfig(seed=7)) as s:
        yield s


def client_for(sim: LlmSimulator, **kw: object) -> GatewayClient:
    opts: dict[str, object] = {"backoff_base_s": 0.02, "backoff_max_s": 0.1, "timeout": 5.0}
    opts.update(kw)
    return GatewayClient(sim.base_url, SecretStr("sim-key"), **opts)  # type: ignore[arg-type]


async def test_chat_returns_text_ids_and_usage(sim: LlmSimulator) -> None:
    async with client_for(sim) as gw:
        result = await gw.chat(
            MODEL, build_edit_messages("i take lisinipril"), temperature=0.2, max_tokens=600
        )
    assert result.text == "I take lisinopril."
    assert result.request_id
    assert result.model == MODEL
    assert result.attempts == 1
    assert result.usage.total_tokens > 0
    assert result.finish_reason == "stop"


async def test_retries_5xx_until_the_gateway_recovers(sim: LlmSimulator) -> None:
    events: list[AttemptEvent] = []
    sim.config.down = True

    async def recover() -> None:
        while sim.stats.count(status=503) < 2:
            await asyncio.sleep(0.01)
        sim.config.down = False

    async with client_for(sim, max_attempts=50, observer=events.append) as gw:
        task = asyncio.create_task(recover())
        result = await gw.chat(MODEL, build_edit_messages("hello"))
        await task
    assert result.attempts >= 3
    assert [e.outcome for e in events][-1] == "ok"
    assert all(e.outcome == "retry" and e.status == 503 for e in events[:-1])


async def test_honours_retry_after_on_429(sim: LlmSimulator) -> None:
    sim.config.throttle_next = 1
    events: list[AttemptEvent] = []
    async with client_for(sim, observer=events.append) as gw:
        result = await gw.chat(MODEL, build_edit_messages("hello"))
    assert result.attempts == 2
    assert events[0].status == 429
    assert events[0].reason == "rate_limited"
    assert sim.stats.count(status=429) == 1


def test_backoff_never_undercuts_retry_after() -> None:
    gw = GatewayClient("http://127.0.0.1:1", SecretStr("k"), backoff_base_s=0.5)
    try:
        assert all(gw._backoff(1, 3.0) >= 3.0 for _ in range(50))
        delays = [gw._backoff(3, None) for _ in range(50)]
        assert all(1.0 <= d <= 2.0 for d in delays)
        assert len(set(delays)) > 1
    finally:
        asyncio.run(gw.aclose())


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("100000") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_both_error_envelopes() -> None:
    business = {"message": "x", "code": 429, "request_id": "r1", "metadata": {"errors": []}}
    auth = {"error": "Unauthorized", "status": 401, "request_id": "r2"}
    spec = {"error": {"code": 400, "message": "bad"}}
    assert (error_code(business, 500), error_request_id(business)) == (429, "r1")
    assert (error_code(auth, 500), error_request_id(auth)) == (401, "r2")
    assert (error_code(spec, 500), error_request_id(spec)) == (400, None)
    assert error_code("not a dict", 502) == 502


async def test_exhausted_retries_raise_unavailable_without_content(sim: LlmSimulator) -> None:
    sim.config.error_rate = 1.0
    async with client_for(sim, max_attempts=3) as gw:
        with pytest.raises(GatewayUnavailable) as info:
            await gw.chat(MODEL, build_edit_messages(CANARY))
    err = info.value
    assert err.attempts == 3
    assert err.status == 503
    assert err.reason == "server_error"
    assert err.request_id
    assert CANARY not in str(err)
    assert "metforman" not in str(err)
    assert sim.stats.count(status=503) == 3


async def test_total_deadline_bounds_hangs(sim: LlmSimulator) -> None:
    sim.config.timeout_rate, sim.config.hang_s = 1.0, 30.0
    async with client_for(sim, timeout=0.3, max_attempts=100, deadline_s=1.0) as gw:
        with pytest.raises(GatewayUnavailable) as info:
            await gw.chat(MODEL, build_edit_messages("hello"))
    assert info.value.reason == "timeout"
    assert 1 < info.value.attempts < 100


async def test_malformed_replies_are_retried_then_fail(sim: LlmSimulator) -> None:
    sim.config.malformed_rate = 1.0
    async with client_for(sim, max_attempts=2) as gw:
        with pytest.raises(GatewayUnavailable) as info:
            await gw.chat(MODEL, build_edit_messages("hello"))
    assert info.value.reason == "malformed_reply"
    assert info.value.attempts == 2


async def test_4xx_is_rejected_at_once(sim: LlmSimulator) -> None:
    async with client_for(sim) as gw:
        with pytest.raises(GatewayRejected) as info:
            await gw.chat("no-such-model", build_edit_messages("hello"))
    assert info.value.status == 400
    assert info.value.attempts == 1
    async with GatewayClient(sim.base_url, SecretStr("wrong")) as bad:
        with pytest.raises(GatewayAuthError) as auth:
            await bad.chat(MODEL, build_edit_messages("hello"))
    assert auth.value.status == 401
    assert auth.value.request_id


async def test_transport_errors_are_retried() -> None:
    async with GatewayClient(
        f"http://127.0.0.1:{free_port()}", SecretStr("k"), max_attempts=3, backoff_base_s=0.01
    ) as gw:
        with pytest.raises(GatewayUnavailable) as info:
            await gw.chat(MODEL, [{"role": "user", "content": "x"}])
    assert info.value.reason.startswith("transport_")
    assert info.value.attempts == 3


async def test_fallback_models_are_sent(sim: LlmSimulator) -> None:
    sim.config.rpm_per_model = 1
    async with client_for(sim, max_attempts=1) as gw:
        await gw.chat(MODEL, build_edit_messages("one"))
        second = await gw.chat(MODEL, build_edit_messages("two"), fallbacks=["gemini-2.5-flash"])
    assert second.model == "gemini-2.5-flash"


async def test_logs_carry_ids_never_content(sim: LlmSimulator) -> None:
    out = io.StringIO()
    configure_logging("DEBUG", "json", "test", stream=out)
    sim.config.throttle_next = 1
    async with client_for(sim) as gw:
        result = await gw.chat(MODEL, build_edit_messages(CANARY))
        sim.config.error_rate = 1.0
        async with client_for(sim, max_attempts=2) as failing:
            with pytest.raises(GatewayUnavailable):
                await failing.chat(MODEL, build_edit_messages(CANARY))
    text = out.getvalue()
    assert "Zebediah" not in text
    assert "metforman" not in text
    assert "sim-key" not in text
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    names = {e["event"] for e in events}
    assert {"gateway_call", "gateway_retry", "gateway_unavailable"} <= names
    call = next(e for e in events if e["event"] == "gateway_call")
    assert call["request_id"] == result.request_id
    assert call["status_code"] == 200
