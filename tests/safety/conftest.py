"""Fixtures of the safety tests: the LLM simulator and a gateway client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from shared.gateway import GatewayClient
from simulators.llm_server import LlmSimConfig, LlmSimulator, start_llm_simulator


@pytest.fixture
async def llm_sim() -> AsyncIterator[LlmSimulator]:
    async with await start_llm_simulator(LlmSimConfig(seed=3)) as sim:
        yield sim


@pytest.fixture
async def gateway(llm_sim: LlmSimulator) -> AsyncIterator[GatewayClient]:
    client = GatewayClient(llm_sim.base_url, SecretStr("sim-key"), timeout=10.0, max_attempts=2)
    yield client
    await client.aclose()
