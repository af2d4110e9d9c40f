"""Stream handlers: control events and edited turns into the database.

Entries of one encounter arrive in any order and possibly twice (at-least-once delivery,
several replicas): every write is an idempotent upsert on its natural key, and the entry
is acknowledged only after the transaction committed (the reader acks when we return).
"""

from __future__ import annotations

import asyncio

from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.metrics import NotesMetrics
from shared.contracts import (
    ControlMessage,
    EditedTurn,
    EncounterFailed,
    EncounterStarted,
    EncounterStopped,
    EncounterTranscribed,
)
from shared.logging import get_logger
from shared.streams import Delivery

log = get_logger(__name__)


class Assembler:
    def __init__(
        self,
        db: Database,
        metrics: NotesMetrics,
        wake: asyncio.Event,
        due: asyncio.Event | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.wake = wake  # tells the note scheduler to look soon rather than at its next poll
        # An encounter may just have become due (its count of turns is known and all are
        # in): the scheduler looks at once, without the settle that damps a flood of turns.
        self.due = due or wake

    async def on_control(self, delivery: Delivery[ControlMessage]) -> None:
        msg = delivery.message
        async with self.db.session() as s:
            if isinstance(msg, EncounterStarted):
                await repo.upsert_encounter_started(s, msg)
            elif isinstance(msg, EncounterStopped):
                await repo.mark_stopped(s, msg)
            elif isinstance(msg, EncounterTranscribed):
                await repo.mark_transcribed(s, msg)
            elif isinstance(msg, EncounterFailed):
                await repo.mark_failed(s, msg)
        kind = type(msg).__name__
        self.metrics.control.labels(type=kind).inc()
        log.info("control_applied", encounter_id=msg.encounter_id, kind=kind)
        if isinstance(msg, EncounterTranscribed):
            self.due.set()

    async def on_turn(self, delivery: Delivery[EditedTurn]) -> None:
        turn = delivery.message
        async with self.db.session() as s:
            stored = await repo.store_turn(s, turn)
        changed, reopened, completes = stored.changed, stored.reopened, stored.completes
        if reopened:
            log.info("note_requeued_gap_closed", encounter_id=turn.encounter_id, seq=turn.seq)
        if changed:
            self.metrics.turns.inc()
            (self.due if reopened or completes else self.wake).set()
        log.debug("turn_stored", encounter_id=turn.encounter_id, seq=turn.seq, state=changed)
