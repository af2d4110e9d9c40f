"""Fidelity: the official `openai` client, pointed at the simulator, works unchanged."""

from __future__ import annotations

import openai
import pytest

from shared.prompts import build_edit_messages
from simulators.llm_server import LlmSimConfig, start_llm_simulator

MODEL = "claude-sonnet-4-6"


async def test_openai_client_gets_completions_and_rate_limit_errors() -> None:
    async with await start_llm_simulator(LlmSimConfig(rpm_per_model=1)) as sim:
        client = openai.AsyncOpenAI(
            base_url=f"{sim.base_url}/v1", api_key="sim-key", max_retries=0, timeout=10
        )
        try:
            messages: list[dict[str, str]] = build_edit_messages("i take lisinipril daily")
            completion = await client.chat.completions.create(
                model=MODEL,
                messages=messages,  # type: ignore[arg-type]
                temperature=0.2,
                max_tokens=600,
            )
            assert completion.choices[0].message.content == "I take lisinopril daily."
            assert completion.model == MODEL
            assert completion.usage is not None
            assert completion.usage.completion_tokens > 0

            with pytest.raises(openai.RateLimitError) as info:
                await client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
            assert info.value.status_code == 429
            assert info.value.response.headers["retry-after"]

            models = await client.models.list()
            assert MODEL in [m.id for m in models.data]
        finally:
            await client.close()


async def test_openai_client_sees_bad_key_as_authentication_error() -> None:
    async with await start_llm_simulator() as sim:
        client = openai.AsyncOpenAI(base_url=f"{sim.base_url}/v1", api_key="wrong", max_retries=0)
        try:
            with pytest.raises(openai.AuthenticationError):
                await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "hi"}]
                )
        finally:
            await client.close()
