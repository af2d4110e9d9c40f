"""The editor's run loop: N consumers of ``ms:turns`` in one group, one control reader,
backlog metrics and the health endpoint, until ``stop`` is set."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.editor.config import EditorSettings
from services.editor.dispatch import Dispatcher
from services.editor.limiter import RateLimiter
from services.editor.metrics import EditorMetrics
from services.editor.state import EditorState
from services.editor.worker import TurnEditor
from shared.contracts import (
    ControlMessage,
    FinalTurn,
    MalformedEntry,
    StreamNames,
    decode,
    decode_control,
)
from shared.gateway import GatewayClient
from shared.health import HealthServer
from shared.logging import get_logger
from shared.prompts import EDIT_PROMPT_VERSION
from shared.streams import ConsumerGroupReader, RawFields, _id

log = get_logger(__name__)

T = TypeVar("T")
BACKLOG_EVERY_S = 5.0


class ConcurrentReader(ConsumerGroupReader[T]):
    """A group reader that handles each batch of entries concurrently, so one worker keeps
    ``batch`` gateway requests in flight instead of one."""

    async def poll_once(self) -> int:
        self.stats.last_loop = time.monotonic()
        handled = 0
        if time.monotonic() - self._last_claim >= self.claim_every_s:
            handled += await self._claim_pass()
        reply: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=self.batch, block=self.block_ms
        )
        entries: list[Any] = [(eid, fields) for _s, batch in reply or [] for eid, fields in batch]
        await self._gather([self._process(eid, fields, deliveries=1) for eid, fields in entries])
        return handled + len(entries)

    async def _claim_pass(self) -> int:
        self._last_claim = time.monotonic()
        handled = 0
        while True:
            cursor, entries = (
                await self.redis.xautoclaim(
                    self.stream,
                    self.group,
                    self.consumer,
                    min_idle_time=self.claim_idle_ms,
                    start_id=self._claim_cursor,
                    count=self.batch,
                )
            )[:2]
            self._claim_cursor = _id(cursor)
            live = [(eid, f) for eid, f in entries if f is not None]
            for eid, fields in entries:
                if fields is None:  # Redis 6.2: deleted entry still pending
                    await self.redis.xack(self.stream, self.group, eid)
            counts = [await self._delivery_count(eid) for eid, _ in live]
            self.stats.claimed += len(live)
            await self._gather(
                [self._process(eid, f, n) for (eid, f), n in zip(live, counts, strict=True)]
            )
            handled += len(live)
            if self._claim_cursor == "0-0" or not entries:
                return handled

    @staticmethod
    async def _gather(calls: list[Any]) -> None:
        results = await asyncio.gather(*calls, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # Redis trouble or cancellation: the loop decides


def _decode_turn(fields: RawFields) -> FinalTurn:
    return decode(fields, FinalTurn)


def _decode_control_quietly(fields: RawFields) -> ControlMessage | None:
    # Other groups own bad control entries; the editor only looks for EncounterStarted.
    try:
        return decode_control(fields)
    except MalformedEntry:
        return None


async def _backlog_loop(
    redis: aioredis.Redis,
    names: StreamNames,
    group: str,
    dispatcher: Dispatcher,
    metrics: EditorMetrics,
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        metrics.backlog.labels("queued").set(dispatcher.queued())
        try:
            summary = await redis.xpending(names.turns, group)
            metrics.backlog.labels("pending").set(int(summary.get("pending", 0)))
            for info in await redis.xinfo_groups(names.turns):
                if info.get("name") in (group, group.encode()) and info.get("lag") is not None:
                    metrics.backlog.labels("unread").set(int(info["lag"]))  # Redis >= 7
        except RedisError:
            pass  # the readers report Redis trouble
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), BACKLOG_EVERY_S)


async def run(
    settings: EditorSettings,
    redis: aioredis.Redis,
    gateway: GatewayClient,
    stop: asyncio.Event,
    *,
    metrics: EditorMetrics | None = None,
) -> None:
    """Edit turns until ``stop`` is set. ``metrics`` may be given to read them afterwards."""
    names = StreamNames(settings.stream_prefix)
    metrics = metrics or EditorMetrics()
    if gateway.observer is None:
        gateway.observer = metrics.observe_attempt
    if settings.claim_too_short():
        log.warning("claim_idle_shorter_than_edit_deadline", limit=settings.claim_idle_ms)
    state = EditorState(
        redis, names, prompt_version=EDIT_PROMPT_VERSION, result_ttl_s=settings.result_ttl_s
    )
    limiter = RateLimiter(
        redis,
        names.key("editor", "rate", ""),
        limit=settings.rpm_per_model or None,
        window_s=settings.rate_window_s,
        margin_s=settings.rate_margin_s,
    )
    dispatcher = Dispatcher(gateway, limiter, settings, metrics)
    editor = TurnEditor(settings, state, dispatcher, metrics)
    consumer = settings.consumer or f"{socket.gethostname()}-{os.getpid()}"
    readers: list[ConcurrentReader[FinalTurn]] = [
        ConcurrentReader(
            redis,
            stream=names.turns,
            group=settings.group,
            consumer=f"{consumer}-{i}",
            decoder=_decode_turn,
            handler=editor.handle,
            dead_stream=names.dead,
            batch=settings.batch,
            block_ms=settings.block_ms,
            claim_idle_ms=settings.claim_idle_ms,
            claim_every_s=settings.claim_every_s,
            max_deliveries=settings.max_deliveries,
        )
        for i in range(settings.workers)
    ]
    control = ConsumerGroupReader[ControlMessage | None](
        redis,
        stream=names.control,
        group=settings.group,
        consumer=consumer,
        decoder=_decode_control_quietly,
        handler=editor.on_control,
        dead_stream=names.dead,
        block_ms=settings.block_ms,
    )
    stale_after = 2 * (settings.gateway_deadline_s + settings.queue_deadline_s) + 30

    async def ready() -> bool:
        fresh = all(time.monotonic() - r.stats.last_loop < stale_after for r in readers)
        return fresh and bool(await redis.ping())

    health = None
    if settings.health_port:
        health = await HealthServer(
            settings.health_host, settings.health_port, ready=ready, registry=metrics.registry
        ).start()
    log.info("editor_started", consumer=consumer, workers=settings.workers, group=settings.group)
    try:
        async with asyncio.TaskGroup() as tg:
            for reader in readers:
                tg.create_task(reader.run(stop))
            tg.create_task(control.run(stop))
            tg.create_task(_backlog_loop(redis, names, settings.group, dispatcher, metrics, stop))
    finally:
        await dispatcher.aclose()
        if health is not None:
            await health.close()
        log.info("editor_stopped", consumer=consumer)
