"""The notes service loop: stream consumers + note scheduler (+ whatever the CLI adds).

``run`` takes settings and clients from the CLI. The staff API (``services.notes.api``)
runs in the same process: the CLI passes it as one of ``extra_tasks``; each extra task
gets the shared :class:`NotesRuntime` and the stop event.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from services.notes.assembler import Assembler
from services.notes.config import NotesSettings
from services.notes.db.engine import Database, is_transient_db_error
from services.notes.db.migrate import check_current_async
from services.notes.health import health_router, serve_health
from services.notes.housekeeping import Housekeeping
from services.notes.metrics import NotesMetrics
from services.notes.release import RedisReleaser
from services.notes.retention import RetentionPolicy, run_retention
from services.notes.room_gate import RoomGate, tell_room
from services.notes.scheduler import NoteScheduler
from services.notes.soap import ChatClient
from shared import rooms
from shared.contracts import EditedTurn, LiveNotice, StreamNames, decode, decode_control
from shared.evidence.warm import warm_meaning_checks
from shared.logging import get_logger
from shared.readiness import GatewayKeyWatch
from shared.streams import ConsumerGroupReader, RawFields

log = get_logger(__name__)

GROUP = "notes"


def _decode_edited(fields: RawFields) -> EditedTurn:
    return decode(fields, EditedTurn)


@dataclass
class NotesRuntime:
    """What the consumer, the scheduler and the API share inside one process."""

    settings: NotesSettings
    db: Database
    redis: aioredis.Redis
    gateway: ChatClient
    metrics: NotesMetrics = field(default_factory=NotesMetrics)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    due: asyncio.Event = field(default_factory=asyncio.Event)  # a note may be due now
    # Whether the gateway rejected the key on its last answer (readiness names it).
    gateway_key: GatewayKeyWatch = field(default_factory=GatewayKeyWatch)

    def __post_init__(self) -> None:
        if hasattr(self.gateway, "observer"):  # a GatewayClient (tests may pass fakes)
            self.gateway.observer = self.gateway_key.chain(self.gateway.observer)

    @property
    def names(self) -> StreamNames:
        return StreamNames(self.settings.stream_prefix)

    def readers(self) -> list[ConsumerGroupReader[Any]]:
        assembler = Assembler(self.db, self.metrics, self.wake, self.due)
        control = ConsumerGroupReader(
            self.redis,
            stream=self.names.control,
            group=GROUP,
            consumer=self.settings.consumer_name,
            decoder=decode_control,
            handler=assembler.on_control,
            dead_stream=self.names.dead,
            transient=is_transient_db_error,
        )
        edited = ConsumerGroupReader(
            self.redis,
            stream=self.names.edited,
            group=GROUP,
            consumer=self.settings.consumer_name,
            decoder=_decode_edited,
            handler=assembler.on_turn,
            dead_stream=self.names.dead,
            batch=64,
            transient=is_transient_db_error,
        )
        return [control, edited]

    def scheduler(self) -> NoteScheduler:
        return NoteScheduler(
            self.settings,
            self.db,
            self.gateway,
            self.metrics,
            self.settings.consumer_name,
            on_exported=self.tell_exported,
        )

    async def tell_exported(self, encounter_id: str, folder: Path) -> None:
        """A room's visit: tell its capture agent where the server put the files (its
        live view ends with that folder, not the room machine's guess)."""
        room = rooms.room_of_encounter(encounter_id)
        if room is not None:
            notice = LiveNotice(
                encounter_id=encounter_id, kind="exported", export_dir=_server_path(folder)
            )
            await tell_room(self.redis, self.names, room, notice)


def _server_path(folder: Path) -> str:
    """The folder as the server sees it (an absolute path, not one relative to its cwd)."""
    return os.path.abspath(folder)


ExtraTask = Callable[[NotesRuntime, asyncio.Event], Coroutine[Any, Any, None]]


async def run(
    settings: NotesSettings,
    db: Database,
    redis: aioredis.Redis,
    gateway: ChatClient,
    stop: asyncio.Event,
    *,
    extra_tasks: Sequence[ExtraTask] = (),
    metrics: NotesMetrics | None = None,
) -> None:
    """Run until ``stop``: the schema is checked first (never migrated implicitly)."""
    await check_current_async(settings.database_url)
    rt = NotesRuntime(settings, db, redis, gateway, metrics or NotesMetrics())
    log.info(
        "notes_started",
        consumer=settings.consumer_name,
        dialect=db.dialect,
        port=settings.health_port or None,
    )
    async with asyncio.TaskGroup() as tg:
        tg.create_task(warm_meaning_checks())  # the first note is not the one paying for it
        for reader in rt.readers():
            tg.create_task(reader.run(stop))
        tg.create_task(rt.scheduler().run(stop, rt.wake, rt.due))
        tg.create_task(RedisReleaser(settings, db, redis, rt.metrics).run(stop))
        tg.create_task(Housekeeping(settings, redis, rt.metrics).run(stop))
        tg.create_task(RoomGate(settings, redis, rt.metrics).run(stop))
        if settings.health_port:
            router = health_router(db, redis, rt.metrics, rt.gateway_key)
            tg.create_task(serve_health(router, settings.health_host, settings.health_port, stop))
        policy = RetentionPolicy.of(settings)
        if policy.active:
            tg.create_task(
                run_retention(db, settings.export_dir, policy, settings.retention_interval_s, stop)
            )
        for extra in extra_tasks:
            tg.create_task(extra(rt, stop))
    log.info("notes_stopped", consumer=settings.consumer_name)
