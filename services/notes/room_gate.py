"""The room gate: forwards what each room adds to its own control stream to ``ms:control``,
after checking it (docs/architecture.md, "Rooms").

A room's Redis user may add to ``ms:room:<room>:control`` only (shared/rooms.py). Here each
entry must be an EncounterStarted or EncounterStopped of one of that room's encounters
(and a start must name the room); a room may have at most ``room_max_open`` visits started
and not stopped. Anything else is acknowledged, counted and logged (room and reason only),
never forwarded: a room cannot forge an outcome, start another room's visit, or flood the
bridge with starts. Forwarding is at least once; every consumer of ``ms:control`` is
idempotent on the encounter id.

A refused start is told back to the room at once: a ``LiveNotice`` on that visit's
``live:<encounter>`` stream, which the room's own user may read (its capture agent stops
recording, keeps the audio and says why). Admission to the per-room cap is one Lua
script, so two notes replicas can never both admit past the cap. When an admin revokes a
room, the gate removes the room's keys once nothing in its control stream is pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.notes.background import RedisJob
from services.notes.config import NotesSettings
from services.notes.metrics import NotesMetrics
from services.notes.room_admin import retire_keys
from shared import rooms
from shared.contracts import (
    ControlMessage,
    EncounterStarted,
    EncounterStopped,
    LiveNotice,
    StreamNames,
    decode_control,
    encode,
)
from shared.logging import get_logger
from shared.streams import ConsumerGroupReader, Delivery
from shared.waiting import sleep_or_stop

log = get_logger(__name__)

GROUP = "gate"

# Admission to a room's open-visit cap in one step (two replicas' gates race on it).
# KEYS = the room's open set; ARGV = encounter, now, now - max age, cap. 1 admitted, 0 not.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""


class RoomGate(RedisJob):
    """One consumer-group reader per registered room, started and stopped as admins add
    and revoke rooms."""

    def __init__(
        self, settings: NotesSettings, redis: aioredis.Redis, metrics: NotesMetrics
    ) -> None:
        super().__init__(settings, redis, metrics)
        # Rooms whose reader this gate stopped and whose keys it retired (ops and tests
        # can tell a revocation has been fully acted on).
        self.retired: set[str] = set()

    async def registered(self) -> set[str]:
        raw: dict[Any, Any] = await self.redis.hgetall(rooms.registry_key(self.names))
        found = set()
        for key in raw:
            name = key.decode() if isinstance(key, bytes) else str(key)
            if rooms.ROOM_RE.match(name):
                found.add(name)
        return found

    async def run(self, stop: asyncio.Event) -> None:
        running: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        try:
            while not stop.is_set():
                try:
                    wanted = await self.registered()
                except (RedisError, OSError) as err:
                    log.warning("room_gate_registry_unreadable", error=type(err).__name__)
                    wanted = set(running)
                for room in wanted - set(running):
                    room_stop = asyncio.Event()
                    task = asyncio.create_task(self.reader(room).run(room_stop))
                    running[room] = (task, room_stop)
                    log.info("room_gate_reading", room=room)
                for room in set(running) - wanted:
                    task, room_stop = running.pop(room)
                    room_stop.set()
                    await _finish(task)
                    await self._retire(room)
                    self.retired.add(room)
                    log.info("room_gate_room_revoked", room=room)
                for room, (task, _) in list(running.items()):
                    if task.done():  # a reader that failed is started again next round
                        running.pop(room)
                        if not task.cancelled() and task.exception() is not None:
                            log.warning(
                                "room_gate_reader_failed",
                                room=room,
                                error=type(task.exception()).__name__,
                            )
                await sleep_or_stop(stop, self.settings.room_refresh_s)
        finally:
            for _task, room_stop in running.values():
                room_stop.set()
            for task, _ in running.values():
                await _finish(task)

    def reader(self, room: str) -> ConsumerGroupReader[ControlMessage]:
        async def handle(delivery: Delivery[ControlMessage]) -> None:
            await self.check_and_forward(room, delivery.message)
            # Handled (forwarded or refused): the room's stream keeps nothing for long.
            await self.redis.xdel(delivery.stream, delivery.entry_id)

        return ConsumerGroupReader(
            self.redis,
            stream=rooms.control_stream(self.names, room),
            group=GROUP,
            consumer=self.settings.consumer_name,
            decoder=decode_control,
            handler=handle,
            dead_stream=self.names.dead,
        )

    async def check_and_forward(self, room: str, msg: ControlMessage) -> bool:
        """Forward ``msg`` from ``room`` to the shared control stream, or refuse it."""
        reason = await self._refusal(room, msg)
        if reason is not None:
            self.metrics.room_gate.labels(outcome=reason).inc()
            log.warning("room_message_refused", room=room, reason=reason, type=type(msg).__name__)
            if isinstance(msg, EncounterStarted):
                await self._tell_refused(room, msg.encounter_id, reason)
            return False
        await self.redis.xadd(self.names.control, encode(msg))  # type: ignore[arg-type]
        if isinstance(msg, EncounterStopped):
            await self.redis.zrem(rooms.open_key(self.names, room), msg.encounter_id)
        self.metrics.room_gate.labels(outcome="forwarded").inc()
        return True

    async def _refusal(self, room: str, msg: ControlMessage) -> str | None:
        if not isinstance(msg, (EncounterStarted, EncounterStopped)):
            return "refused_type"  # outcomes come from the bridge, never from a room
        if rooms.room_of_encounter(msg.encounter_id) != room:
            return "refused_encounter"
        if isinstance(msg, EncounterStopped):
            return None
        if msg.room != room:
            return "refused_room"
        return await self._admit_start(room, msg.encounter_id)

    async def _admit_start(self, room: str, encounter_id: str) -> str | None:
        # One script: every notes replica runs a gate reader per room, and a check
        # followed by an add would let two replicas both take the last slot. The same
        # start again (a resend after an unknown outcome) is admitted and counted once.
        now = time.time()
        admitted = await self.redis.eval(
            _ADMIT,
            1,
            rooms.open_key(self.names, room),
            encounter_id,
            repr(now),
            repr(now - self.settings.room_open_max_age_s),
            str(self.settings.room_max_open),
        )
        return None if int(admitted) == 1 else "refused_cap"

    async def _tell_refused(self, room: str, encounter_id: str, reason: str) -> None:
        notice = LiveNotice(encounter_id=encounter_id, kind="refused", reason=reason)
        await tell_room(self.redis, self.names, room, notice)

    async def _retire(self, room: str) -> None:
        try:
            await retire_keys(self.redis, self.names, room)
        except (RedisError, OSError) as err:  # revoke() set an expiry; keys go anyway
            log.warning("room_keys_not_removed", room=room, error=type(err).__name__)


async def tell_room(
    redis: aioredis.Redis, names: StreamNames, room: str, notice: LiveNotice
) -> bool:
    """``notice`` onto the visit's live stream, which only ``room`` may read (and which
    expires: no visit row may ever release it). An id outside the room's key pattern gets
    nothing: it is not this room's visit. False when it could not be written."""
    if not rooms.in_room_keys(room, notice.encounter_id):
        return False
    key = names.live(notice.encounter_id)
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(key, encode(notice), maxlen=rooms.LIVE_MAXLEN)  # type: ignore[arg-type]
            pipe.expire(key, rooms.NOTICE_TTL_S)
            await pipe.execute()
    except (RedisError, OSError) as err:  # what it says stands; the room is not told
        log.warning("room_notice_not_written", room=room, error=type(err).__name__)
        return False
    return True


async def _finish(task: asyncio.Task[None]) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=5.0)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    except Exception:  # noqa: BLE001 - already logged by the reader; the gate goes on
        pass
