"""The editor's run loop: N consumers of ``ms:turns`` in one group, one control reader,
backlog metrics and the health endpoint, until ``stop`` is set."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.editor.config import EditorSettings
from services.editor.dispatch import Dispatcher
from services.editor.metrics import EditorMetrics
from services.editor.state import EditorState
from services.editor.waiting import QuotaWaitBoard
from services.editor.worker import TurnEditor
from shared.contracts import (
    ControlMessage,
    FinalTurn,
    MalformedEntry,
    StreamNames,
    decode,
    decode_control,
)
from shared.evidence.warm import warm_meaning_checks
from shared.gateway import GatewayClient, GatewayError
from shared.health import HealthServer
from shared.logging import get_logger
from shared.prompts import EDIT_PROMPT_VERSION
from shared.rate_limit import RateLimiter
from shared.readiness import GatewayKeyWatch, RedisPermissionsProbe
from shared.settings import host_and_pid
from shared.streams import ConsumerGroupReader, RawFields
from shared.waiting import sleep_or_stop

log = get_logger(__name__)

BACKLOG_EVERY_S = 5.0


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
        await sleep_or_stop(stop, BACKLOG_EVERY_S)


async def _check_models(gateway: GatewayClient, settings: EditorSettings) -> None:
    """Warn when a configured model is not offered (IDs churn and retire; protocol §9.5)."""
    try:
        offered = set(await asyncio.wait_for(gateway.list_models(), 15))
    except (GatewayError, TimeoutError) as err:
        log.warning("model_list_unavailable", error=type(err).__name__)
        return
    for model in (settings.default_model, *settings.fallback_models):
        if model not in offered:
            log.warning("model_not_offered", model=model)


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
        redis,
        names,
        prompt_version=EDIT_PROMPT_VERSION,
        result_ttl_s=settings.result_ttl_s,
        mark_ttl_s=settings.mark_ttl_s,
    )
    limiter = RateLimiter(
        redis,
        names.llm_rate_prefix,
        limit=settings.edit_limit(),
        window_s=settings.rate_window_s,
        margin_s=settings.rate_margin_s,
        burst=settings.rate_burst,
    )
    dispatcher = Dispatcher(gateway, limiter, settings, metrics, QuotaWaitBoard(redis, names))
    editor = TurnEditor(settings, state, dispatcher, metrics)
    consumer = settings.consumer or host_and_pid()
    readers: list[ConsumerGroupReader[FinalTurn]] = [
        ConsumerGroupReader(
            redis,
            stream=names.turns,
            group=settings.group,
            consumer=f"{consumer}-{i}",
            decoder=_decode_turn,
            handler=editor.handle,
            dead_stream=names.dead,
            batch=settings.batch,
            # Each turn in a task of its own: one slow gateway call (retrying for a minute)
            # must never hold back the turns behind it.
            concurrency=settings.batch,
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

    key_watch = GatewayKeyWatch()
    gateway.observer = key_watch.chain(gateway.observer)
    permissions = RedisPermissionsProbe(redis, "editor", names, settings.redis_url)

    async def ready() -> bool:
        """Readers loop, Redis answers with all the editor's permissions, and the
        gateway did not reject the key on its last answer (NotReady names which)."""
        fresh = all(time.monotonic() - r.stats.last_loop < stale_after for r in readers)
        if not await redis.ping():
            return False
        await permissions.require()
        key_watch.require()
        return fresh

    health = None
    if settings.health_port:
        health = await HealthServer(
            settings.health_host, settings.health_port, ready=ready, registry=metrics.registry
        ).start()
    log.info("editor_started", consumer=consumer, workers=settings.workers, group=settings.group)
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(warm_meaning_checks())  # the per-turn flags and edit guard use it
            for reader in readers:
                tg.create_task(reader.run(stop))
            tg.create_task(control.run(stop))
            tg.create_task(_check_models(gateway, settings))
            tg.create_task(_backlog_loop(redis, names, settings.group, dispatcher, metrics, stop))
    finally:
        await dispatcher.aclose()
        if health is not None:
            await health.close()
        log.info("editor_stopped", consumer=consumer)
