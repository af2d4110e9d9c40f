"""The release job: a visit's audio and other Redis keys leave Redis once it is durable.

The notes service owns this because only it knows when a visit is durable: its turns are
in the database and its note is written (``transcribed_at`` and ``note_at`` set), or its
transcription failed after every turn was stored. What is due is derived from those
columns, and ``redis_released_at`` is set only after every key is gone, so a crash at any
point leaves the visit due and the next pass (this replica after a restart, or another)
deletes the rest. Deleting is idempotent, so two replicas releasing at once is harmless.

A visit whose transcription failed keeps its audio for a replay until
``failed_audio_max_age_h`` after it ended; the same age bounds any visit that never
finished (a capture agent that died mid-visit; at least a day), so nothing stays forever.

With ``audio_archive=flac`` the audio is written to the visit's export folder first
(services.notes.audio_archive); a visit whose archive cannot be written keeps its audio in
Redis and is retried next pass. Steps, each safe to repeat: archive, delete the marks,
delete the exact keys, set ``redis_released_at``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from services.notes.audio_archive import ArchiveError, archive_audio, remove_archive
from services.notes.background import RedisJob
from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from services.notes.db.models import Encounter, utcnow
from services.notes.metrics import NotesMetrics
from services.notes.status import EncounterStatus
from shared.logging import get_logger
from shared.release import StepHook, glob_escape, release_encounter
from shared.waiting import sleep_or_stop

log = get_logger(__name__)

BATCH = 100
ABANDONED_AFTER = timedelta(hours=24)
ORPHAN_SWEEP_EVERY_S = 3600.0


def audio_kept_until(enc: Encounter, settings: NotesSettings) -> datetime | None:
    """For a visit held for a replay (transcription failed, audio still in Redis): when
    its audio will be deleted. None for every other visit."""
    if (
        enc.redis_released_at is not None
        or enc.status != EncounterStatus.FAILED
        or enc.transcribed_at
    ):
        return None
    ended = enc.stopped_at or enc.started_at
    return ended + timedelta(hours=settings.failed_audio_max_age_h)


class RedisReleaser(RedisJob):
    def __init__(
        self,
        settings: NotesSettings,
        db: Database,
        redis: aioredis.Redis,
        metrics: NotesMetrics,
        *,
        between_steps: StepHook | None = None,
    ) -> None:
        super().__init__(settings, redis, metrics)
        self.db = db
        self.between_steps = between_steps

    async def due(self, now: datetime | None = None, limit: int = BATCH) -> list[str]:
        """Ids of visits whose Redis keys may go now, oldest first."""
        now = now or utcnow()
        settled = now - timedelta(seconds=self.settings.redis_release_delay_s)
        max_age = timedelta(hours=self.settings.failed_audio_max_age_h)
        e = Encounter
        ended = func.coalesce(e.stopped_at, e.started_at)
        durable = or_(
            and_(e.note_at.is_not(None), e.note_at <= settled),
            and_(e.status == EncounterStatus.FAILED, e.updated_at <= settled),
        )
        stmt = (
            select(e.id)
            .where(
                e.redis_released_at.is_(None),
                or_(
                    and_(e.transcribed_at.is_not(None), durable),
                    and_(e.status == EncounterStatus.FAILED, ended <= now - max_age),
                    # Abandoned (never finished nor failed): never sooner than a day.
                    ended <= now - max(max_age, ABANDONED_AFTER),
                ),
            )
            .order_by(e.started_at)
            .limit(limit)
        )
        async with self.db.session() as session:
            return list((await session.execute(stmt)).scalars())

    async def release_due(self, now: datetime | None = None) -> int:
        """Release every due visit (in batches); returns how many were released."""
        released = 0
        while True:
            ids = await self.due(now)
            before = released
            for encounter_id in ids:
                if not await self._archive(encounter_id):
                    continue
                keys = await release_encounter(
                    self.redis, self.names, encounter_id, between_steps=self.between_steps
                )
                if self.between_steps is not None:
                    await self.between_steps("keys_deleted", encounter_id)
                async with self.db.session() as session:
                    await session.execute(
                        update(Encounter)
                        .where(Encounter.id == encounter_id, Encounter.redis_released_at.is_(None))
                        .values(redis_released_at=utcnow())
                        .execution_options(synchronize_session=False)
                    )
                self.metrics.redis_released.inc()
                log.info("encounter_released_from_redis", encounter_id=encounter_id, count=keys)
                released += 1
            if len(ids) < BATCH or released == before:  # a batch that all failed: next pass
                return released

    async def _archive(self, encounter_id: str) -> bool:
        """Write the FLAC archive if one is wanted; False keeps the audio in Redis."""
        if self.settings.audio_archive != "flac":
            return True
        async with self.db.session() as session:
            enc = await session.get(Encounter, encounter_id)
        if enc is None or enc.status == EncounterStatus.PURGED:
            return True  # a purged visit's audio is never written anywhere
        try:
            path = await archive_audio(
                self.redis,
                self.names,
                self.settings.export_dir,
                encounter_id,
                enc.sample_rate or 16000,
            )
        except ArchiveError as err:
            self.metrics.export_errors.inc()
            log.warning("audio_archive_failed", encounter_id=encounter_id, error=str(err))
            return False
        if path is not None and await self._purged_meanwhile(encounter_id):
            # A purge committed while the file was written; its folder removal may have
            # run before the file existed, so remove it here (purge order: DB, files, Redis).
            await asyncio.to_thread(remove_archive, self.settings.export_dir, encounter_id)
        if self.between_steps is not None:
            await self.between_steps("archived", encounter_id)
        return True

    async def _purged_meanwhile(self, encounter_id: str) -> bool:
        async with self.db.session() as session:
            status = await session.scalar(
                select(Encounter.status).where(Encounter.id == encounter_id)
            )
        return status == EncounterStatus.PURGED

    async def sweep_orphans(self, idle_s: float | None = None) -> int:
        """Audio streams of visits the database never heard of (their control entries were
        lost, or the database was replaced): deleted once nobody has written or read them
        for as long as an abandoned visit. Audio entry ids are frame numbers, not times, so
        the age is Redis's idle time of the key. Returns how many visits were cleared."""
        if idle_s is None:
            idle_s = max(self._max_age, ABANDONED_AFTER).total_seconds()
        head = self.names.audio("")
        candidates: list[str] = []
        async for raw in self.redis.scan_iter(match=f"{glob_escape(head)}*", count=1000):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            idle: Any = await self.redis.object("idletime", key)
            if idle is not None and int(idle) >= idle_s:
                candidates.append(key[len(head) :])
        if not candidates:
            return 0
        async with self.db.session() as session:
            rows = await session.execute(select(Encounter.id).where(Encounter.id.in_(candidates)))
            known = set(rows.scalars().all())
        cleared = 0
        for encounter_id in candidates:
            if encounter_id in known:
                continue  # the database decides (release_due)
            await release_encounter(self.redis, self.names, encounter_id)
            log.warning("orphan_audio_released", encounter_id=encounter_id)
            cleared += 1
        return cleared

    @property
    def _max_age(self) -> timedelta:
        return timedelta(hours=self.settings.failed_audio_max_age_h)

    async def run(self, stop: asyncio.Event) -> None:
        """Release what is due every ``redis_release_every_s`` until ``stop``; look for
        orphaned audio once an hour."""
        last_sweep = -ORPHAN_SWEEP_EVERY_S
        while not stop.is_set():
            try:
                await self.release_due()
                if time.monotonic() - last_sweep >= ORPHAN_SWEEP_EVERY_S:
                    await self.sweep_orphans()
                    last_sweep = time.monotonic()
            except (RedisError, OSError, SQLAlchemyError) as err:
                # Nothing was marked released that is still in Redis: retried next pass.
                log.warning("redis_release_deferred", error=type(err).__name__)
            await sleep_or_stop(stop, self.settings.redis_release_every_s)
