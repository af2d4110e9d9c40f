"""Per-turn handling: dedupe, cache, edit, flags, in-order idempotent publish.

Each final turn becomes exactly one ``EditedTurn`` per ``(encounter_id, seq)``:
a turn already published is acked without work; a redelivered turn whose edit is cached
does not pay for a second gateway call; the publish itself is an atomic "XADD unless
marked" in Redis. Within a process, turns of one encounter are published in the order
they were taken (normally ``seq`` order).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from services.editor.config import EditorSettings
from services.editor.dispatch import Dispatcher
from services.editor.flags import flags_for
from services.editor.metrics import EditorMetrics
from services.editor.state import EditorState, EditOutcome, Prepared
from shared.contracts import ControlMessage, EditedTurn, EncounterStarted, FinalTurn
from shared.logging import get_logger
from shared.streams import ACKED, Acked, Delivery

log = get_logger(__name__)

ORDER_WAIT_S = 30.0  # never hold a finished turn longer than this for an earlier one


class _Slot:
    def __init__(self, order: EncounterOrder, encounter_id: str, prev: asyncio.Future[None] | None):
        self.order = order
        self.encounter_id = encounter_id
        self.prev = prev
        self.mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def wait_turn(self) -> None:
        if self.prev is not None and not self.prev.done():
            await asyncio.wait({self.prev}, timeout=ORDER_WAIT_S)

    def release(self) -> None:
        if not self.mine.done():
            self.mine.set_result(None)
        if self.order.tails.get(self.encounter_id) is self.mine:
            del self.order.tails[self.encounter_id]


class EncounterOrder:
    """A FIFO chain per encounter: each turn publishes after the one taken before it."""

    def __init__(self) -> None:
        self.tails: dict[str, asyncio.Future[None]] = {}

    def reserve(self, encounter_id: str) -> _Slot:
        slot = _Slot(self, encounter_id, self.tails.get(encounter_id))
        self.tails[encounter_id] = slot.mine
        return slot


@dataclass(eq=False)
class TurnEditor:
    settings: EditorSettings
    state: EditorState
    dispatcher: Dispatcher
    metrics: EditorMetrics
    order: EncounterOrder = field(init=False, default_factory=EncounterOrder)
    # Edits in progress by (encounter, seq): a duplicate entry waits for the same call.
    _inflight: dict[tuple[str, int], asyncio.Future[EditOutcome | None]] = field(
        init=False, default_factory=dict
    )

    async def on_control(self, delivery: Delivery[ControlMessage | None]) -> None:
        if isinstance(delivery.message, EncounterStarted):
            await self.state.record_encounter(delivery.message)

    async def handle(self, delivery: Delivery[FinalTurn]) -> Acked | None:
        turn = delivery.message
        started = time.monotonic()
        slot = self.order.reserve(turn.encounter_id)
        # Earlier attempts died with this turn (worker crashes): publish it as spoken
        # rather than let it be dead-lettered and missing from the note.
        last_try = delivery.deliveries >= self.settings.max_deliveries > 1
        try:
            prep = await self.state.prepare(
                turn, remember=not last_try, context_turns=self.settings.context_turns
            )
            if prep.published:
                self.metrics.duplicates.inc()
                log.info("turn_already_published", encounter_id=turn.encounter_id, seq=turn.seq)
                return None  # the reader acknowledges it: nothing was written
            if last_try:
                outcome = EditOutcome(
                    turn.text, "fallback", self.settings.default_model, "last_delivery"
                )
            else:
                outcome = await self._outcome(turn, prep)
            edited = EditedTurn(
                **dict(turn),
                edited_text=outcome.edited_text,
                edit_status=outcome.status,
                llm_model=outcome.model,
                flags=flags_for(outcome.edited_text),
                edit_reason=outcome.reason,
            )
            await slot.wait_turn()
            ack = (delivery.group, delivery.entry_id) if delivery.group else None
            entry_id = await self.state.publish_once(edited, ack)
        finally:
            slot.release()
        elapsed = time.monotonic() - started
        if entry_id is None:
            self.metrics.duplicates.inc()
            return ACKED if ack else None
        self.metrics.edits.labels(outcome.status).inc()
        if outcome.status == "fallback":
            self.metrics.fallbacks.labels((outcome.reason or "unknown").split(":", 1)[0]).inc()
        self.metrics.turn_seconds.observe(elapsed)
        if not outcome.cached:
            self.metrics.timings.append((elapsed, outcome.gateway_s))
        log.info(
            "turn_edited",
            encounter_id=turn.encounter_id,
            seq=turn.seq,
            entry_id=entry_id,
            edit_status=outcome.status,
            reason=outcome.reason,
            llm_model=outcome.model,
            request_id=outcome.request_id,
            duration_ms=round(elapsed * 1000),
            latency_ms=round(outcome.gateway_s * 1000),
            deliveries=delivery.deliveries,
        )
        return ACKED if ack else None

    async def _outcome(self, turn: FinalTurn, prep: Prepared) -> EditOutcome:
        if prep.cached is not None:
            self.metrics.cache_hits.inc()
            return prep.cached
        key = (turn.encounter_id, turn.seq)
        if key in self._inflight:  # a duplicate entry of a turn being edited right now
            shared = await asyncio.shield(self._inflight[key])
            if shared is not None:
                self.metrics.cache_hits.inc()
                return shared
        future: asyncio.Future[EditOutcome | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        outcome: EditOutcome | None = None
        try:
            outcome = await self._edit(turn, prep)
            return outcome
        finally:
            # None tells a waiting duplicate to edit on its own (this attempt failed).
            future.set_result(outcome)
            if self._inflight.get(key) is future:
                del self._inflight[key]

    async def _edit(self, turn: FinalTurn, prep: Prepared) -> EditOutcome:
        info = prep.encounter or await self.state.encounter_from_control(turn.encounter_id)
        model = info.model or self.settings.default_model
        outcome = await self.dispatcher.edit(turn, model, info.keyterms, prep.context)
        with contextlib.suppress(Exception):  # the cache is an optimisation only
            await self.state.store_result(turn, outcome)
        return outcome
