"""Helpers of the editor tests: settings, an in-process editor, turns, stream readers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from pydantic import SecretStr

from services.editor.config import EditorSettings
from services.editor.metrics import EditorMetrics
from services.editor.service import run
from shared.contracts import EditedTurn, FinalTurn, StreamNames, decode
from shared.gateway import GatewayClient
from shared.streams import make_redis
from simulators.llm_server import LlmSimulator

MODEL = "claude-haiku-4-5-20251001"

# Misheard drugs, spoken numbers, clean sentences: what a bridge would publish.
PHRASES = (
    "i take metforman five hundred milligrams twice a day",
    "the chest pain started on monday and gets worse when i walk",
    "we'll start lisinipril ten milligrams in the morning",
    "Any allergies to medications?",
    "my blood pressure at home was one fifty over ninety",
    "i've had a cough and a fever since the weekend",
)


def settings_for(
    redis_url: str, names: StreamNames, sim: LlmSimulator, **kw: Any
) -> EditorSettings:
    base: dict[str, Any] = {
        "redis_url": redis_url,
        "stream_prefix": names.prefix,
        "llm_gateway_url": sim.base_url,
        "assemblyai_api_key": SecretStr("sim-key"),
        "default_model": MODEL,
        "workers": 2,
        "batch": 16,
        "block_ms": 100,
        "claim_idle_ms": 3000,
        "claim_every_s": 0.5,
        "rpm_per_model": 0,
        "queue_deadline_s": 30.0,
        "gateway_timeout_s": 5.0,
        "gateway_max_attempts": 8,
        "gateway_deadline_s": 15.0,
        "gateway_backoff_s": 0.02,
        "breaker_cooldown_s": 0.5,
        "health_port": 0,
    }
    base.update(kw)
    return EditorSettings(**base)


def make_turn(encounter_id: str, seq: int, text: str | None = None) -> FinalTurn:
    return FinalTurn(
        encounter_id=encounter_id,
        seq=seq,
        stt_session_id="sess-1",
        turn_order=seq,
        text=text if text is not None else PHRASES[seq % len(PHRASES)],
        start_ms=seq * 4000,
        end_ms=seq * 4000 + 3000,
    )


class RunningEditor:
    """``run()`` in a task with its own Redis and gateway clients."""

    def __init__(self, settings: EditorSettings) -> None:
        self.settings = settings
        self.metrics = EditorMetrics()
        self.stop = asyncio.Event()
        self.redis = make_redis(settings.redis_url, block_ms=settings.block_ms)
        self.gateway = GatewayClient(
            settings.llm_gateway_url,
            settings.require_llm_key(),
            timeout=settings.gateway_timeout_s,
            max_attempts=settings.gateway_max_attempts,
            deadline_s=settings.gateway_deadline_s,
            backoff_base_s=settings.gateway_backoff_s,
            backoff_max_s=0.5,
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RunningEditor:
        self.task = asyncio.create_task(
            run(self.settings, self.redis, self.gateway, self.stop, metrics=self.metrics)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        try:
            await asyncio.wait_for(self.task, 30)
        finally:
            await self.gateway.aclose()
            await self.redis.aclose()


@contextlib.asynccontextmanager
async def editors(*settings: EditorSettings) -> AsyncIterator[list[RunningEditor]]:
    running = [RunningEditor(s) for s in settings]
    async with contextlib.AsyncExitStack() as stack:
        for r in running:
            await stack.enter_async_context(r)
        yield running


async def publish_turns(redis: aioredis.Redis, names: StreamNames, turns: list[FinalTurn]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for turn in turns:
            fields: Any = {"v": "1", "type": "FinalTurn", "data": turn.model_dump_json()}
            pipe.xadd(names.turns, fields)
        await pipe.execute()


async def edited_turns(redis: aioredis.Redis, names: StreamNames) -> list[EditedTurn]:
    entries: Any = await redis.xrange(names.edited)
    return [decode(fields, EditedTurn) for _id, fields in entries]


async def wait_for_edited(
    redis: aioredis.Redis, names: StreamNames, count: int, timeout: float = 60.0
) -> list[EditedTurn]:
    """Edited turns once ``count`` exist and the group has nothing pending (bounds a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await redis.xlen(names.edited) >= count:
            pending: Any = await redis.xpending(names.turns, "editor")
            if int(pending["pending"]) == 0:
                await asyncio.sleep(0.3)  # a straggler would show up now
                return await edited_turns(redis, names)
        await asyncio.sleep(0.05)
    got = await redis.xlen(names.edited)
    raise AssertionError(f"only {got} of {count} edited turns within {timeout}s")
