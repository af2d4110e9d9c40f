"""The notes service loop, in three roles a process runs together (the default) or apart.

- ``ingest``: the stream consumers that store what the other services send: the
  assembler's readers of ``ms:control`` and ``ms:edited`` (turns, encounter starts, stops
  and outcomes into the database) and the room gate (reads each room's control stream,
  forwards to ``ms:control``: a consumer, and the visits' way in).
- ``writer``: the note scheduler (which also writes the exported files), the release job
  (a visit's Redis keys, and with ``audio_archive=flac`` its audio into the export
  folder, once its note is written), stream housekeeping (trimming, Redis budget and lag
  measures) and the retention policy. The scheduler leases each job in the database, the
  others are idempotent, so any number of writers is safe; one per clinic is enough.
- ``api``: the staff API with the web console and the live follows (the CLI passes it as
  one of ``extra_tasks``; each gets the shared :class:`NotesRuntime` and the stop event).

The roles share nothing but the database and Redis: the ingest side wakes a writer in
the same process at once, a writer elsewhere finds the work at its next poll
(``scheduler_poll_s``). ``run`` takes settings and clients from the CLI.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Collection, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
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


class Role(StrEnum):
    """What a notes process runs (module docstring)."""

    INGEST = "ingest"
    WRITER = "writer"
    API = "api"


ALL_ROLES: frozenset[Role] = frozenset(Role)


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """Roles from ``--role`` values, each one name or a comma list; none given: all.

    ValueError names the first unknown role."""
    found: set[Role] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            try:
                found.add(Role(name))
            except ValueError:
                known = ", ".join(r.value for r in Role)
                raise ValueError(f"unknown role {name!r} (known: {known})") from None
    return frozenset(found) if found else ALL_ROLES


def role_names(roles: Collection[Role]) -> str:
    """``ingest,writer,api`` order, whatever the order given."""
    return ",".join(r.value for r in Role if r in roles)


def _decode_edited(fields: RawFields) -> EditedTurn:
    return decode(fields, EditedTurn)


@dataclass
class NotesRuntime:
    """What the consumer, the scheduler and the API share inside one process."""

    settings: NotesSettings
    db: Database
    redis: aioredis.Redis
    gateway: ChatClient | None  # None: no role of this process calls the LLM Gateway
    metrics: NotesMetrics = field(default_factory=NotesMetrics)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    due: asyncio.Event = field(default_factory=asyncio.Event)  # a note may be due now
    # Whether the gateway rejected the key on its last answer (readiness names it).
    gateway_key: GatewayKeyWatch = field(default_factory=GatewayKeyWatch)

    def __post_init__(self) -> None:
        if self.gateway is not None and hasattr(self.gateway, "observer"):  # a GatewayClient
            self.gateway.observer = self.gateway_key.chain(self.gateway.observer)

    @property
    def names(self) -> StreamNames:
        return StreamNames(self.settings.stream_prefix)

    def readers(self) -> list[ConsumerGroupReader[Any]]:
        assembler = Assembler(self.db, self.metrics, self.wake, self.due)
        reader = functools.partial(
            ConsumerGroupReader,
            self.redis,
            group=GROUP,
            consumer=self.settings.consumer_name,
            dead_stream=self.names.dead,
            transient=is_transient_db_error,
        )
        control = reader(
            stream=self.names.control, decoder=decode_control, handler=assembler.on_control
        )
        edited = reader(
            stream=self.names.edited, decoder=_decode_edited, handler=assembler.on_turn, batch=64
        )
        return [control, edited]

    def scheduler(self) -> NoteScheduler:
        if self.gateway is None:
            raise ValueError("the writer role needs an LLM Gateway client")
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
    gateway: ChatClient | None,
    stop: asyncio.Event,
    *,
    roles: Collection[Role] = ALL_ROLES,
    extra_tasks: Sequence[ExtraTask] = (),
    metrics: NotesMetrics | None = None,
) -> None:
    """Run ``roles`` until ``stop``: the schema is checked first (never migrated implicitly).

    ``extra_tasks`` (the staff API) are the caller's: it passes them for the api role."""
    await check_current_async(settings.database_url)
    roles = frozenset(roles)
    rt = NotesRuntime(settings, db, redis, gateway, metrics or NotesMetrics())
    log.info(
        "notes_started",
        consumer=settings.consumer_name,
        dialect=db.dialect,
        port=settings.health_port or None,
        role=role_names(roles),  # "roles" is no allow-listed log key
    )
    async with asyncio.TaskGroup() as tg:
        if roles & {Role.WRITER, Role.API}:  # notes and summaries are checked with them
            tg.create_task(warm_meaning_checks())  # the first note does not pay for it
        if Role.INGEST in roles:
            for reader in rt.readers():
                tg.create_task(reader.run(stop))
            tg.create_task(RoomGate(settings, redis, rt.metrics).run(stop))
        if Role.WRITER in roles:
            tg.create_task(rt.scheduler().run(stop, rt.wake, rt.due))
            tg.create_task(RedisReleaser(settings, db, redis, rt.metrics).run(stop))
            tg.create_task(Housekeeping(settings, redis, rt.metrics).run(stop))
            policy = RetentionPolicy.of(settings)
            if policy.active:
                tg.create_task(
                    run_retention(
                        db, settings.export_dir, policy, settings.retention_interval_s, stop
                    )
                )
        if settings.health_port:
            # Only the gateway's key of a process that calls the gateway is its business.
            key = rt.gateway_key if gateway is not None else None
            some = None if roles == ALL_ROLES else role_names(roles)
            router = health_router(db, redis, rt.metrics, key, roles=some)
            tg.create_task(serve_health(router, settings.health_host, settings.health_port, stop))
        for extra in extra_tasks:
            tg.create_task(extra(rt, stop))
    log.info("notes_stopped", consumer=settings.consumer_name)
