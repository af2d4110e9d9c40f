"""The LLM Gateway simulator over real HTTP: replies, envelopes, limits and faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.notes.soap_format import SoapFormatError, parse_soap
from services.notes.soap_prompt import soap_messages
from shared.acibench import Dialogue
from shared.prompts import (
    NOT_DISCUSSED,
    build_edit_batch_messages,
    build_edit_messages,
    parse_edit_batch_reply,
)
from simulators.llm_behaviour import FABRICATION, edit_turn, transcript_sentences
from simulators.llm_server import LlmSimConfig, LlmSimulator, start_llm_simulator

MODEL = "claude-sonnet-4-6"
AUTH = {"Authorization": "sim-key"}


@pytest.fixture
async def sim() -> AsyncIterator[LlmSimulator]:
    async with await start_llm_simulator(LlmSimConfig(seed=1)) as s:
        yield s


@pytest.fixture
async def http(sim: LlmSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as c:
        yield c


async def post(http: httpx.AsyncClient, messages: Any, **extra: Any) -> httpx.Response:
    body = {"model": MODEL, "messages": messages, "max_tokens": 600, **extra}
    return await http.post("/v1/chat/completions", headers=AUTH, json=body)


def reply_text(resp: httpx.Response) -> str:
    return str(resp.json()["choices"][0]["message"]["content"])


def test_edit_corrections_are_documented_ones() -> None:
    assert edit_turn("i started metforman and lisinipril last week") == (
        "I started metformin and lisinopril last week."
    )
    assert edit_turn("Metforman helps. i'm fine , thanks") == "Metformin helps. I'm fine, thanks."
    assert edit_turn("take two tylenol") == "Take two Tylenol."
    assert edit_turn("") == ""


async def test_edit_reply_shape_and_only_target_turn(http: httpx.AsyncClient) -> None:
    messages = build_edit_messages(
        "so i take metforman twice a day", context=["doctor said hello there", "how are you"]
    )
    resp = await post(http, messages, temperature=0.2)
    assert resp.status_code == 200
    body = resp.json()
    assert reply_text(resp) == "So I take metformin twice a day."
    assert body["request_id"]
    assert body["model"] == MODEL
    assert body["choices"][0]["finish_reason"] == "stop"
    assert (
        body["usage"]["total_tokens"]
        == body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
    )
    assert "messages" not in body["request"]
    assert body["request"]["temperature"] == 0.2


async def test_batch_edit_round_trips(http: httpx.AsyncClient) -> None:
    turns = ["i take lisinipril", "and metforman at night", "that's all"]
    resp = await post(http, build_edit_batch_messages(turns, context=["earlier turn"]))
    assert parse_edit_batch_reply(reply_text(resp), 3) == [edit_turn(t) for t in turns]
    assert parse_edit_batch_reply(reply_text(resp), 2) is None


async def test_soap_is_strict_and_extractive(
    http: httpx.AsyncClient, aci_dialogues: list[Dialogue]
) -> None:
    # The notes service's own request and check (services/notes/soap_prompt.py, soap_format.py).
    for dialogue in aci_dialogues[:5]:
        lines = [f"{t.speaker.capitalize()}: {t.text}" for t in dialogue.turns]
        resp = await post(http, soap_messages("\n".join(lines), has_roles=True), max_tokens=1200)
        note = parse_soap(reply_text(resp))
        # parse_soap folds runs of whitespace inside a bullet; the sentences are compared so.
        said = {" ".join(s.split()) for s in transcript_sentences([t.text for t in dialogue.turns])}
        assert note.bullets
        for bullet in note.bullets:
            assert bullet == NOT_DISCUSSED or bullet in said


async def test_soap_malformed_first_reply_lacks_a_section(sim: LlmSimulator) -> None:
    sim.config.soap_malformed = 1
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        messages = soap_messages("Doctor: We'll start aspirin tomorrow morning.", has_roles=True)
        first = await post(http, messages)
        with pytest.raises(SoapFormatError, match="Plan"):
            parse_soap(reply_text(first))
        second = parse_soap(reply_text(await post(http, messages)))
        assert second.sections["plan"] == ["We'll start aspirin tomorrow morning."]
        assert second.sections["subjective"] == [NOT_DISCUSSED]


async def test_auth_envelope_and_bearer(http: httpx.AsyncClient) -> None:
    messages = build_edit_messages("hello")
    body = {"model": MODEL, "messages": messages}
    bad = await http.post("/v1/chat/completions", headers={"Authorization": "nope"}, json=body)
    assert bad.status_code == 401
    assert set(bad.json()) == {"error", "status", "request_id"}
    missing = await http.post("/v1/chat/completions", json=body)
    assert missing.status_code == 401
    bearer = {"Authorization": "Bearer sim-key"}
    assert (await http.post("/v1/chat/completions", headers=bearer, json=body)).status_code == 200


async def test_business_envelope_for_bad_requests(http: httpx.AsyncClient) -> None:
    unknown = await http.post(
        "/v1/chat/completions", headers=AUTH, json={"model": "no-such", "messages": []}
    )
    assert unknown.status_code == 400
    env = unknown.json()
    assert env["code"] == 400
    assert env["request_id"]
    assert "model: unknown model" in env["metadata"]["errors"]
    assert "messages: required" in env["metadata"]["errors"]
    garbage = await http.post("/v1/chat/completions", headers=AUTH, content=b"{not json")
    assert garbage.status_code == 400
    assert garbage.json()["code"] == 400


async def test_rate_limit_window_retry_after_and_fallback(sim: LlmSimulator) -> None:
    sim.config.rpm_per_model = 2
    sim.config.rpm_window_s = 0.5
    messages = build_edit_messages("hello")
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        assert [(await post(http, messages)).status_code for _ in range(2)] == [200, 200]
        limited = await post(http, messages)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["code"] == 429
        via_fallback = await post(http, messages, fallbacks=[{"model": "gemini-2.5-flash"}])
        assert via_fallback.status_code == 200
        assert via_fallback.json()["model"] == "gemini-2.5-flash"
        await asyncio.sleep(0.6)
        assert (await post(http, messages)).status_code == 200
    assert sim.stats.count(model=MODEL, status=429) == 1
    assert sim.stats.max_in_window(MODEL, 0.5) <= 2


async def test_runtime_faults(sim: LlmSimulator) -> None:
    messages = build_edit_messages("hello there")
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        sim.config.down = True
        assert (await post(http, messages)).status_code == 503
        sim.config.down = False
        sim.config.error_rate, sim.config.error_status = 1.0, 502
        assert (await post(http, messages)).status_code == 502
        sim.config.error_rate = 0.0
        sim.config.malformed_rate = 1.0
        bad = await post(http, messages)
        assert bad.status_code == 200
        with pytest.raises(ValueError):
            bad.json()
        sim.config.malformed_rate = 0.0
        sim.config.throttle_next = 1
        assert (await post(http, messages)).status_code == 429
        sim.config.fabricate = True
        assert reply_text(await post(http, messages)) == f"Hello there. {FABRICATION}"
        sim.config.fabricate = False
        sim.config.timeout_rate, sim.config.hang_s = 1.0, 30.0
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                "/v1/chat/completions",
                headers=AUTH,
                json={"model": MODEL, "messages": messages},
                timeout=0.3,
            )
    assert sim.stats.count(status=503) == 1
    assert sim.stats.count(status=502) == 1


async def test_max_tokens_truncates_with_length(http: httpx.AsyncClient) -> None:
    resp = await post(http, build_edit_messages("word " * 50), max_tokens=5)
    assert resp.json()["choices"][0]["finish_reason"] == "length"
    assert len(reply_text(resp)) == 20


async def test_models_list_needs_no_auth(http: httpx.AsyncClient) -> None:
    data = (await http.get("/v1/models")).json()["data"]
    ids = [m["id"] for m in data]
    assert MODEL in ids
    assert "gemini-2.5-flash" in ids
    claude = next(m for m in data if m["id"] == MODEL)
    assert "eu" in claude["available_regions"]
    assert claude["context_length"] > 0
