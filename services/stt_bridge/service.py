"""The bridge process: control reader, lease keeper, orphan scanner, encounter tasks, health.

    await run(settings, redis, stop)

* ``ms:control`` (group ``bridge``): ``EncounterStarted`` is recorded in Redis (state hash,
  active set) before it is acked, then taken here if this replica has room;
  ``EncounterStopped`` is stored in the encounter's state, where its owner (on any replica)
  reads it. Other control types are ignored.
* Ownership is the lease, not the control entry: a keeper renews every local lease each
  ``lease_ms / 3``; a lost lease stops that encounter here at once.
* A scanner takes active encounters without a lease (owner died, or nobody had room).
* ``stop``: stop taking work, hand every encounter back (Terminate, release the lease) so
  another replica resumes it right away.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.stt_bridge.audio_hub import AudioHub
from services.stt_bridge.config import BridgeSettings
from services.stt_bridge.context import BridgeContext
from services.stt_bridge.encounter import EncounterRunner, Outcome
from services.stt_bridge.lease import Leases
from services.stt_bridge.ledger import DoneLedger, LedgerError
from services.stt_bridge.metrics import BridgeMetrics
from services.stt_bridge.partials import PartialSink
from services.stt_bridge.state import EncounterStore, LeaseLost
from shared.contracts import (
    ControlMessage,
    EncounterStarted,
    EncounterStopped,
    StreamNames,
    decode_control,
)
from shared.health import HealthServer
from shared.logging import get_logger
from shared.readiness import RedisPermissionsProbe, SttKeyProbe
from shared.streams import (
    TRANSIENT_REDIS_ERRORS,
    ConsumerGroupReader,
    Delivery,
    ReplicaWait,
)
from shared.waiting import sleep_or_stop

log = get_logger(__name__)
GROUP = "bridge"
_RETRY_AFTER_CRASH_S = 30.0
_STOP_POLL_S = 0.5


class Bridge:
    def __init__(
        self,
        settings: BridgeSettings,
        redis: aioredis.Redis,
        *,
        metrics: BridgeMetrics | None = None,
        latency_samples: list[float] | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        names = StreamNames(settings.stream_prefix)
        self.audio = AudioHub(
            redis,
            block_ms=max(5, int(settings.chunk_ms / settings.pace_factor)),
            interval_s=settings.redis_batch_ms / 1000 / settings.pace_factor,
        )
        self.names = names
        self.metrics = metrics or BridgeMetrics()
        wait = ReplicaWait.for_url(
            settings.redis_url, settings.redis_wait_replicas, settings.redis_wait_timeout_ms
        )
        self.store = EncounterStore(redis, names, settings.state_ttl_s, wait)
        self.leases = Leases(redis, names, settings.consumer, settings.lease_ms)
        self.partials = PartialSink(
            redis, self.metrics, interval_s=settings.redis_batch_ms / 1000 / settings.pace_factor
        )
        key = settings.assemblyai_api_key
        # Readiness asks AssemblyAI whether it accepts the key (a token request, not billed).
        self.stt_key = (
            SttKeyProbe(settings.streaming_url, key.get_secret_value())
            if key is not None and key.get_secret_value()
            else None
        )
        self.redis_permissions = RedisPermissionsProbe(redis, "bridge", names, settings.redis_url)
        self.ledger = DoneLedger(
            settings.done_ledger, settings.stream_prefix, settings.done_ledger_keep_days
        )
        self.ctx = BridgeContext(
            settings=settings, redis=redis, names=names, store=self.store, leases=self.leases,
            metrics=self.metrics, ledger=self.ledger,
            api_key=settings.require_streaming_key().get_secret_value(),
            latency_samples=latency_samples, audio=self.audio, partials=self.partials,
        )  # fmt: skip
        self.tasks: dict[str, tuple[EncounterRunner, asyncio.Task[Outcome]]] = {}
        self._lost_since: dict[str, float] = {}  # encounter -> when its lease was first seen lost
        self._hard_stop_after_s = max(2.0, self.settings.lease_ms / 1000)
        self._crashed: dict[str, float] = {}
        self._accepting = True
        self._replicas = 1
        self._taking: set[str] = set()
        self.reader: ConsumerGroupReader[ControlMessage] = ConsumerGroupReader(
            redis, stream=names.control, group=GROUP, consumer=settings.consumer,
            decoder=decode_control, handler=self._on_control, dead_stream=names.dead,
        )  # fmt: skip
        self.outcomes: dict[str, Outcome] = {}

    # -- control stream ------------------------------------------------------------------

    async def _on_control(self, delivery: Delivery[ControlMessage]) -> None:
        msg = delivery.message
        if isinstance(msg, EncounterStarted):
            if await self.store.register(msg):
                await self.take(msg.encounter_id)
        elif isinstance(msg, EncounterStopped):
            await self.store.record_stop(msg.encounter_id, msg.last_frame_seq)
            local = self.tasks.get(msg.encounter_id)
            if local is not None:
                local[0].stop_seq = msg.last_frame_seq
            log.info(
                "encounter_stop_recorded", encounter_id=msg.encounter_id,
                last_frame_seq=msg.last_frame_seq,
            )  # fmt: skip

    async def take(self, encounter_id: str) -> bool:
        """Take an encounter if there is room and its lease is free."""
        if not self._accepting or encounter_id in self.tasks or encounter_id in self._taking:
            return False
        # Reserved before the first await: the control handler and the scanner may try to
        # take the same encounter at once, and our own lease is re-takeable by design.
        self._taking.add(encounter_id)
        try:
            return await self._take(encounter_id)
        finally:
            self._taking.discard(encounter_id)

    async def _take(self, encounter_id: str) -> bool:
        if len(self.tasks) + len(self._taking) - 1 >= await self._room():
            return False
        if time.monotonic() - self._crashed.get(encounter_id, -1e9) < _RETRY_AFTER_CRASH_S:
            return False
        if not await self.leases.acquire(encounter_id):
            return False
        if await self._settled_from_ledger(encounter_id):
            return False
        state = await self.store.load(encounter_id)
        if state.started is None or state.status != "active" or not self._accepting:
            await self.leases.release(encounter_id)
            with contextlib.suppress(RedisError):
                if state.status != "active":
                    await self.redis.srem(self.store.active_key, encounter_id)
            return False
        runner = EncounterRunner(self.ctx, state.started)
        task = asyncio.create_task(self._run_encounter(runner), name=f"enc-{encounter_id}")
        self.tasks[encounter_id] = (runner, task)
        self.metrics.active.set(len(self.tasks))
        return True

    async def _settled_from_ledger(self, encounter_id: str) -> bool:
        """True if this encounter must not be streamed: it was transcribed before (Redis
        lost or rolled back its state) and is now marked done again, or the ledger cannot
        be read (the scanner retries). Called holding the lease."""
        try:
            done = await self.ledger.get(encounter_id)
        except LedgerError as err:
            log.error("done_ledger_read_failed", encounter_id=encounter_id, error=str(err))
            await self.leases.release(encounter_id)
            return True
        if done is None:
            return False
        # Re-publish the recorded outcome (notes applies it idempotently: its database may
        # never have seen it if Redis lost it) and mark the encounter done; drops the lease.
        try:
            await self.store.finish(encounter_id, self.leases.token, done)
        except LeaseLost:
            return True  # another replica holds it now; it will find the same record
        self.metrics.encounters.labels("already_transcribed").inc()
        log.warning("encounter_already_transcribed", encounter_id=encounter_id,
                    turn_count=done.turn_count)  # fmt: skip
        return True

    async def _run_encounter(self, runner: EncounterRunner) -> Outcome:
        eid = runner.eid
        outcome = Outcome.CRASHED
        try:
            outcome = await runner.run()
            return outcome
        except asyncio.CancelledError:
            outcome = Outcome.CANCELLED
            raise
        except Exception:
            log.exception("encounter_task_crashed", encounter_id=eid)
            self._crashed[eid] = time.monotonic()
            return outcome
        finally:
            if self.tasks.get(eid, (None,))[0] is runner:
                del self.tasks[eid]
            self.outcomes[eid] = outcome
            self.metrics.active.set(len(self.tasks))
            self.metrics.encounters.labels(outcome).inc()
            with contextlib.suppress(Exception):
                self.metrics.audio_lag.remove(eid)
            if outcome in (Outcome.HANDBACK, Outcome.CRASHED, Outcome.CANCELLED):
                with contextlib.suppress(RedisError, OSError):
                    await self.leases.release(eid)
            log.info("encounter_released", encounter_id=eid, action=outcome)

    # -- background loops ----------------------------------------------------------------

    async def _room(self) -> int:
        """How many encounters this replica should hold: its fair share of the active ones
        among the live replicas (plus one), capped by ``max_encounters``."""
        active = int(await self.redis.scard(self.store.active_key))
        share = math.ceil(active / max(1, self._replicas)) + 1
        return min(self.settings.max_encounters, share)

    async def _heartbeat(self) -> None:
        """Announce this replica and count the live ones (for the fair share)."""
        key = self.names.key("bridge", "replicas")
        now = time.time() * 1000
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {self.leases.token: now})
            pipe.zremrangebyscore(key, 0, now - 3 * self.settings.lease_ms)
            pipe.zcard(key)
            *_, count = await pipe.execute()
        self._replicas = max(1, int(count))

    async def _keep_leases(self, stop: asyncio.Event) -> None:
        every = self.settings.lease_ms / 3000
        last_ok = time.monotonic()
        while not stop.is_set():
            await sleep_or_stop(stop, every)
            ids = list(self.tasks)
            try:
                await self._heartbeat()
                held = await self.leases.renew_many(ids)
                last_ok = time.monotonic()
            except TRANSIENT_REDIS_ERRORS as err:
                log.warning("lease_renew_failed", error=type(err).__name__, count=len(ids))
                if (time.monotonic() - last_ok) * 1000 < self.settings.lease_ms * 0.8:
                    continue
                held = dict.fromkeys(ids, False)  # cannot prove ownership: stop streaming
            now = time.monotonic()
            for eid, ok in held.items():
                if not ok and eid in self.tasks:
                    runner, task = self.tasks[eid]
                    first = self._lost_since.setdefault(eid, now)
                    log.warning("lease_lost", encounter_id=eid)
                    runner.interrupt(Outcome.LOST)
                    # Another replica owns it: if the graceful stop (Terminate, wait for
                    # Termination) is stuck, e.g. in a slow handshake, stop it hard.
                    if now - first > self._hard_stop_after_s:
                        task.cancel()
            for eid in list(self._lost_since):
                if eid not in self.tasks:
                    del self._lost_since[eid]

    async def _watch_stops(self, stop: asyncio.Event) -> None:
        """Learn the stops another replica read from ``ms:control`` (a local one is set by
        ``_on_control`` at once): one pipelined read for all local encounters, instead of
        each encounter polling its own."""
        while not stop.is_set():
            await sleep_or_stop(stop, _STOP_POLL_S / self.settings.pace_factor)
            waiting = [eid for eid, (r, _) in self.tasks.items() if r.stop_seq is None]
            try:
                seqs = await self.store.stop_seqs(waiting)
            except TRANSIENT_REDIS_ERRORS as err:
                log.warning("stop_poll_failed", error=type(err).__name__, count=len(waiting))
                continue
            for eid, seq in seqs.items():
                local = self.tasks.get(eid)
                if seq is not None and local is not None and local[0].stop_seq is None:
                    local[0].stop_seq = seq

    async def _scan(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                for eid in await self.store.active_ids():
                    if stop.is_set():
                        break
                    if eid in self.tasks:  # ours: no round trip (was two per encounter)
                        continue
                    if len(self.tasks) >= await self._room():
                        break
                    if await self.redis.exists(self.leases.key(eid)):
                        continue
                    if await self.take(eid):
                        log.info("encounter_resumed", encounter_id=eid)
            except TRANSIENT_REDIS_ERRORS as err:
                log.warning("scan_failed", error=type(err).__name__)
            await sleep_or_stop(stop, self.settings.scan_every_s)

    async def ready(self) -> bool:
        """Redis answers, AssemblyAI accepts the key (NotReady names it), not stopping."""
        await self.redis.ping()
        await self.redis_permissions.require()
        if self.stt_key is not None:
            await self.stt_key.require()
        return self._accepting

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        health = None
        if s.health_port:
            health = await HealthServer(
                s.health_host, s.health_port, ready=self.ready, registry=self.metrics.registry
            ).start()
        await self.ledger.open()  # a bridge that cannot keep its ledger exits (LedgerError)
        await self._heartbeat()
        log.info("bridge_started", consumer=s.consumer, lease_ms=s.lease_ms)
        loops_stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.audio.run(loops_stop))
                tg.create_task(self.partials.run(loops_stop))
                tg.create_task(self.reader.run(loops_stop))
                tg.create_task(self._keep_leases(loops_stop))
                tg.create_task(self._scan(loops_stop))
                tg.create_task(self._watch_stops(loops_stop))
                await stop.wait()
                self._accepting = False
                await self.hand_back()
                loops_stop.set()
        finally:
            for _, task in list(self.tasks.values()):
                task.cancel()
            if health is not None:
                await health.close()
            log.info("bridge_stopped", consumer=s.consumer)

    async def hand_back(self) -> None:
        """Interrupt every local encounter and wait (bounded) for them to let go."""
        entries = list(self.tasks.values())
        log.info("bridge_handing_back", count=len(entries))
        with contextlib.suppress(RedisError, OSError):  # others' fair share grows at once
            await self.redis.zrem(self.names.key("bridge", "replicas"), self.leases.token)
        for runner, _ in entries:
            runner.interrupt(Outcome.HANDBACK)
        tasks = [t for _, t in entries]
        if tasks:
            bound = self.settings.terminate_timeout_s + 5.0
            _, pending = await asyncio.wait(tasks, timeout=bound)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)


async def run(settings: BridgeSettings, redis: aioredis.Redis, stop: asyncio.Event) -> None:
    """Run one bridge replica until ``stop`` is set."""
    await Bridge(settings, redis).run(stop)
