"""The Redis stream layer every service uses: one producer, one consumer-group reader.

The reader implements the rules of ARCHITECTURE.md §3 once for all consumers:
group created at ``0`` with MKSTREAM; this consumer's own pending entries first, then new
ones; ack only after the handler returned; periodic XAUTOCLAIM of entries idle past a
timeout; delivery counting; poison and unparseable entries moved to the dead-letter
stream with the reason, then acked; entries handled one at a time or (``concurrency``)
several at once. Works on Redis >= 6.2.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Generic, TypeVar, cast
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    NoPermissionError,
    OutOfMemoryError,
    RedisClusterException,
    ResponseError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.backoff import exponential
from shared.contracts import MalformedEntry, Message, encode
from shared.errors import MedscribeError
from shared.logging import get_logger
from shared.redis_acl import is_permission_error
from shared.redis_urls import (
    cluster_seed_url,
    is_cluster_url,
)
from shared.settings import ClusterUnreachable
from shared.waiting import sleep_or_stop

log = get_logger(__name__)

# Redis errors that pass: it is unreachable, or out of memory (maxmemory with noeviction
# refuses writes until memory is freed). Loops back off and retry instead of dying.
TRANSIENT_REDIS_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OutOfMemoryError,
    OSError,
)


def is_out_of_memory(err: BaseException) -> bool:
    """Redis refused a write for maxmemory: directly (OutOfMemoryError), or inside a Lua
    script, where Redis 6.2 reports it as a script error mentioning OOM."""
    return isinstance(err, OutOfMemoryError) or (
        isinstance(err, ResponseError) and "OOM command not allowed" in str(err)
    )


def is_unblocked(err: BaseException) -> bool:
    """Redis ended a blocking read without an answer: its node turned replica under it
    (``UNBLOCKED ... master -> replica``, Redis Cluster failover) or ``CLIENT UNBLOCK
    ... ERROR``. Nothing was read or changed; the read may simply be sent again."""
    return isinstance(err, ResponseError) and str(err).startswith("UNBLOCKED")


T = TypeVar("T")
RawFields = dict[bytes, bytes]
Decoder = Callable[[RawFields], T]


class PoisonEntry(MedscribeError):
    """Raised by a handler for an entry that can never succeed: dead-letter it now.

    The message must be a reason code, not content; it is logged and stored.
    """


class _Redis(aioredis.Redis):
    """Names the command in a NOPERM (Redis says only "one of the keys"), never its keys."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().execute_command(*args, **options)
        except NoPermissionError as err:
            name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            raise NoPermissionError(f"{name.upper()}: {err}") from None


# Per process (per node on a cluster): far above what any service keeps busy at once.
DEFAULT_MAX_CONNECTIONS = 1024
POOL_WAIT_S = 30.0  # how long a command waits for a free pooled connection


def make_redis(
    url: str, *, block_ms: int = 1000, retry: bool = True, max_connections: int | None = None
) -> aioredis.Redis:
    """An asyncio client with a socket timeout safely longer than any BLOCK we issue.

    A ``redis+cluster://host:port`` URL gives a cluster client seeded from that node; the
    rest of the code is the same, because every key of one clinic shares one hash tag
    (see ``check_cluster_prefix``) and so one slot.

    ``retry=False``: the client does not retry a failed command on its own, so every lost
    connection (a primary that died, a failover) reaches the caller. The capture writer
    needs that: it must look at what Redis lost before it writes the next frame.
    """
    extra: dict[str, Any] = {} if retry else {"retry": Retry(NoBackoff(), 0)}
    timeout = max(block_ms / 1000 * 2, block_ms / 1000 + 5.0)
    if not is_cluster_url(url):
        # A blocking pool: at its bound a command waits for a free connection instead of
        # failing (redis-py 6+ caps a plain pool at 100 and raises MaxConnectionsError,
        # which left turns pending for the reclaim timeout when the editor ran 128 calls).
        pool = BlockingConnectionPool.from_url(
            url,
            decode_responses=False,
            socket_timeout=timeout,
            socket_connect_timeout=5.0,
            health_check_interval=30,
            retry_on_timeout=False,
            max_connections=max_connections or DEFAULT_MAX_CONNECTIONS,
            timeout=POOL_WAIT_S,
            **extra,
        )
        return _Redis.from_pool(pool)
    seed = cluster_seed_url(url)  # a cluster has only database 0
    cluster: _ClinicCluster = _ClinicCluster.from_url(  # type: ignore[assignment]
        seed,
        decode_responses=False,
        socket_timeout=timeout,
        socket_connect_timeout=5.0,
        health_check_interval=30,
        # Per node: the bridge keeps one connection per encounter in flight.
        max_connections=max_connections or DEFAULT_MAX_CONNECTIONS,
        **extra,
    )
    seed_parts = urlsplit(seed)
    cluster.seed = f"{seed_parts.hostname}:{seed_parts.port or 6379}"
    # Same command API as a single-node client for everything we call on one slot.
    return cast("aioredis.Redis", cluster)


class _ClinicCluster(RedisCluster):
    """The cluster client, failing its first connect with :class:`ClusterUnreachable`."""

    _ready_once = False
    seed = "?"  # host:port of the URL, for the message (never the password)

    async def initialize(self, *args: Any, **kwargs: Any) -> _ClinicCluster:
        try:
            await super().initialize(*args, **kwargs)
        except (RedisClusterException, RedisConnectionError, OSError) as err:
            if self._ready_once:
                raise
            raise ClusterUnreachable(
                f"no Redis Cluster node answers at {self.seed} (the seed node of "
                f"MEDSCRIBE_REDIS_URL; {type(err).__name__})"
            ) from None
        self._ready_once = True
        return self


@dataclass(frozen=True)
class ReplicaWait:
    """``WAIT replicas timeout_ms`` after a write whose silent loss in a failover would cost
    more than the round trip (docs/cluster.md, "Durability under failover")."""

    replicas: int
    timeout_ms: int

    @classmethod
    def for_url(cls, url: str, replicas: int, timeout_ms: int) -> ReplicaWait | None:
        """Only on Redis Cluster, whose primaries have replicas that can be promoted: a
        single Redis has no replica to wait for (every WAIT would run to its timeout)."""
        return cls(replicas, timeout_ms) if is_cluster_url(url) and replicas > 0 else None


@dataclass
class WaitStats:
    replicated: int = 0
    unreplicated: int = 0  # WAIT ran to its timeout (or failed): the write may still be lost


async def eval_replicated(
    redis: aioredis.Redis,
    wait: ReplicaWait | None,
    stats: WaitStats,
    script: str,
    numkeys: int,
    *keys_and_args: Any,
) -> Any:
    """``EVAL`` and, when ``wait`` is set, ``WAIT`` on the same connection, so the reply
    comes back only once a replica holds the write (or the timeout passed)."""
    if wait is None:
        return await redis.eval(script, numkeys, *keys_and_args)
    key = keys_and_args[0]
    result, _acked = await write_replicated(
        redis, wait, stats, key, lambda pipe: pipe.eval(script, numkeys, *keys_and_args)
    )
    return result


async def write_replicated(
    redis: aioredis.Redis,
    wait: ReplicaWait,
    stats: WaitStats,
    key: str,
    write: Callable[[Any], object],
) -> tuple[Any, bool]:
    """One write (``write`` queues it on a pipeline; ``key`` is its first key) and ``WAIT``
    on the same connection. Returns the write's reply and whether enough replicas hold it.

    WAIT covers the writes of the connection it is sent on, so both go in one pipeline:
    the cluster pipeline sends each node's commands on one connection, and the WAIT is sent
    to the node that owns ``key``. A WAIT that fails or times out does not fail the write
    (it happened on the primary): it is logged and counted, and the caller decides what is
    left to do if that primary then dies.
    """
    wait_kwargs: dict[str, Any] = {}
    if isinstance(redis, RedisCluster):
        wait_kwargs["target_nodes"] = redis.get_node_from_key(key)
    async with redis.pipeline(transaction=False) as pipe:
        write(pipe)
        pipe.execute_command("WAIT", wait.replicas, wait.timeout_ms, **wait_kwargs)
        result, acked = await pipe.execute(raise_on_error=False)
    if isinstance(result, BaseException):
        raise result
    if isinstance(acked, int) and acked >= wait.replicas:
        stats.replicated += 1
        return result, True
    stats.unreplicated += 1
    log.warning(
        "redis_write_unreplicated",
        replicas_wanted=wait.replicas,
        replicas_acked=acked if isinstance(acked, int) else None,
        error=type(acked).__name__ if isinstance(acked, BaseException) else None,
        timeout_ms=wait.timeout_ms,
    )
    return result, False


async def publish(
    redis: aioredis.Redis,
    stream: str,
    message: Message,
    *,
    maxlen: int | None = None,
) -> bytes:
    """XADD one contract message; ``maxlen`` (approximate) only where the stream allows it."""
    fields: Any = encode(message)
    entry_id: Any
    if maxlen is None:
        entry_id = await redis.xadd(stream, fields)
    else:
        entry_id = await redis.xadd(stream, fields, maxlen=maxlen, approximate=True)
    return bytes(entry_id) if not isinstance(entry_id, str) else entry_id.encode()


@dataclass(frozen=True)
class Delivery(Generic[T]):
    """One entry handed to a handler."""

    stream: str
    entry_id: str
    message: T
    deliveries: int
    group: str = ""


class Acked:
    """What a handler returns when it acknowledged the entry itself, in the same atomic
    write as its effect. The reader then sends no XACK of its own: in a failover, a
    separate XACK can reach the new primary while the effect was written to the old one
    and lost with it (the entry would be acknowledged and its effect gone)."""


ACKED = Acked()


# An entry of this consumer's own, not being worked on, idle this long: its handler ended
# without the acknowledgement taking effect. (Not 0: a task that just finished may still
# be between its acknowledgement and leaving the in-flight set.)
ORPHAN_IDLE_MS = 1000
# First wait before a transient handler failure is retried; doubles up to the reader's cap.
TRANSIENT_RETRY_FIRST_S = 0.1


@dataclass
class ReaderStats:
    handled: int = 0
    failed: int = 0
    dead: int = 0
    claimed: int = 0
    last_loop: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class ConsumerGroupReader(Generic[T]):
    """Reads one stream in a consumer group and hands decoded entries to ``handler``.

    ``handler`` may raise: the entry then stays pending and is retried after
    ``claim_idle_ms`` (by this or another consumer) until ``max_deliveries`` is exceeded,
    when it is dead-lettered. Raising :class:`PoisonEntry` dead-letters at once.

    ``transient`` names failures of the infrastructure rather than of the entry (the
    database dropped its connection or is locked): the same entry is retried here, with
    back-off, until it succeeds or the reader stops. Such an outage neither counts towards
    dead-lettering nor leaves the entry waiting half a minute for reclaim (a note's grace
    period could end meanwhile). After Redis itself failed, this consumer's own pending
    entries are re-read before new ones, for the same reason.

    ``concurrency`` is how many entries may be handled at once. At 1 (the default) each
    entry is handled before the next is read. Above 1 each entry gets a task of its own and
    the reader reads again as soon as a slot is free, so one slow handler (a gateway call
    retrying for a minute) never holds back the entries behind it. Reads then take at most
    the free slots (and ``batch``), a reclaim pass takes one page, and this consumer's own
    pending entries that no task is working on are taken back after ``ORPHAN_IDLE_MS``
    rather than ``claim_idle_ms``; the re-read after a Redis failure skips the entries
    its tasks are still handling, so none runs twice at once. A graceful stop lets the
    tasks finish; cancelling the reader cancels them.
    """

    redis: aioredis.Redis
    _: KW_ONLY
    stream: str
    group: str
    consumer: str
    decoder: Decoder[T]
    handler: Callable[[Delivery[T]], Awaitable[Acked | None]]
    dead_stream: str
    batch: int = 16
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    claim_every_s: float = 5.0
    max_deliveries: int = 5
    transient: Callable[[BaseException], bool] | None = None
    transient_retry_max_s: float = 5.0
    concurrency: int = 1
    stats: ReaderStats = field(init=False, default_factory=ReaderStats)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._claim_cursor = "0-0"
        self._last_claim = 0.0
        self._stop = asyncio.Event()
        self._reread_own = False  # Redis failed mid-entry: own pending entries come first
        # concurrency > 1 only: the entries being handled, and their ids
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight_ids: set[str] = set()
        # Their idle time is reset well within ``claim_idle_ms`` (_keep_inflight_fresh).
        self._touch_every_s = min(self.claim_every_s, self.claim_idle_ms / 3000)
        self._last_touch = 0.0

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set or the task is cancelled."""
        try:
            await self._consume(stop)
        except asyncio.CancelledError:
            for task in self._tasks:
                task.cancel()
            raise
        finally:
            # Graceful stop: finish what was taken (cancellation cancels it instead).
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _consume(self, stop: asyncio.Event | None) -> None:
        stop = stop or asyncio.Event()
        self._stop = stop
        await self.ensure_group()
        await self._drain_own_pending(stop)
        failures = 0  # Redis failures in a row: the backoff doubles from 0.5 s to 10 s
        me = asyncio.current_task()
        while not stop.is_set():
            if me is not None and me.cancelling():
                # redis-py can swallow a cancellation that lands mid-command; honour it here.
                raise asyncio.CancelledError
            try:
                if self._reread_own:
                    await self._drain_own_pending(stop)
                    self._reread_own = False
                await self.poll_once()
                failures = 0
            except TRANSIENT_REDIS_ERRORS as err:
                if me is not None and me.cancelling():
                    raise asyncio.CancelledError from err
                self._reread_own = True
                backoff = exponential(failures, 0.5, 10.0)
                failures += 1
                log.warning(
                    "stream_redis_unavailable",
                    stream=self.stream,
                    group=self.group,
                    error=type(err).__name__,
                    retry_in_s=backoff,
                )
                await sleep_or_stop(stop, backoff)
            except ResponseError as err:
                if "NOGROUP" in str(err):  # stream or group deleted under us: recreate
                    await self.ensure_group()
                    continue
                if is_unblocked(err):
                    # The node our blocking read waited on turned replica (a failover) or
                    # an operator unblocked it: nothing was read; read again.
                    log.warning("stream_read_unblocked", stream=self.stream, group=self.group)
                    self._reread_own = True
                    continue
                if not is_out_of_memory(err):
                    raise
                log.warning("stream_redis_out_of_memory", stream=self.stream, group=self.group)
                self._reread_own = True
                await sleep_or_stop(stop, exponential(failures, 0.5, 10.0))
                failures += 1

    async def poll_once(self) -> int:
        """One read (new entries) plus a reclaim pass when due; returns entries handled
        (taken, when ``concurrency`` > 1)."""
        self.stats.last_loop = time.monotonic()
        handled = 0
        if time.monotonic() - self._last_touch >= self._touch_every_s:
            await self._keep_inflight_fresh()
        if time.monotonic() - self._last_claim >= self.claim_every_s:
            handled += await self._claim_pass()
        free = self._free_slots()
        if free <= 0:
            await asyncio.wait(
                self._tasks, timeout=self.block_ms / 1000, return_when=asyncio.FIRST_COMPLETED
            )
            return handled
        reply: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=free, block=self.block_ms
        )
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                await self._take(entry_id, fields, deliveries=1)
                handled += 1
        return handled

    async def _keep_inflight_fresh(self) -> None:
        """Reset the idle time of the entries this consumer's tasks are handling (XCLAIM
        JUSTID: no delivery is counted), so a slow handler (a turn waiting for quota) never
        looks like a dead consumer's entry: neither another consumer's reclaim nor this
        one's own counts it again, towards dead-lettering, while it is being worked on."""
        self._last_touch = time.monotonic()
        if not self._inflight_ids:
            return
        ids: list[Any] = sorted(self._inflight_ids)
        await self.redis.xclaim(
            self.stream, self.group, self.consumer, min_idle_time=0, message_ids=ids,
            justid=True,
        )  # fmt: skip

    def _free_slots(self) -> int:
        """How many entries to take now: a batch when handled one by one, else what fits."""
        if self.concurrency == 1:
            return self.batch
        return min(self.batch, self.concurrency - len(self._tasks))

    async def _take(self, entry_id: bytes | str, fields: RawFields, deliveries: int) -> None:
        """Handle the entry now, or (``concurrency`` > 1) start its task and return."""
        if self.concurrency == 1:
            await self._process(entry_id, fields, deliveries)
            return
        eid = _id(entry_id)
        self._inflight_ids.add(eid)
        task = asyncio.create_task(self._process(eid, fields, deliveries))
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._finished(t, eid))

    def _finished(self, task: asyncio.Task[None], entry_id: str) -> None:
        self._tasks.discard(task)
        self._inflight_ids.discard(entry_id)
        if not task.cancelled() and task.exception() is not None:
            # Redis trouble while handling: the entry stays pending and is taken again
            # (_retake_own_orphans).
            log.warning(
                "stream_handler_aborted",
                stream=self.stream,
                entry_id=entry_id,
                error=type(task.exception()).__name__,
            )

    async def _drain_own_pending(self, stop: asyncio.Event) -> None:
        """Re-read entries this consumer took before a crash or restart, or before Redis
        failed. Entries a task of ours was handling when the page was read are skipped:
        that task acks them, or, if it ends without the ack, they are orphans for
        :meth:`_retake_own_orphans`; handling them here too would run them twice at once."""
        last = "0"
        while not stop.is_set():
            # Taken before the read: a task that acks while the reply is on its way must
            # not have its entry handled again. (No task starts during the drain.)
            busy = set(self._inflight_ids)
            reply: Any = await self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: last}, count=self.batch
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return
            for entry_id, fields in entries:
                last = _id(entry_id)
                if last in busy:
                    continue
                if fields is None:  # trimmed while pending: nothing left to do
                    await self.redis.xack(self.stream, self.group, entry_id)
                    continue
                await self._process(entry_id, fields, await self._delivery_count(entry_id))

    async def _claim_pass(self) -> int:
        """Take entries idle past ``claim_idle_ms`` (a dead consumer's). One by one, every
        page now; concurrently, one page bounded by the free slots (the cursor carries on
        at the next pass), after this consumer's own orphans."""
        self._last_claim = time.monotonic()
        handled = await self._retake_own_orphans() if self.concurrency > 1 else 0
        while True:
            reply: Any = await self.redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id=self._claim_cursor,
                count=max(1, self._free_slots()),
            )
            cursor, entries = reply[0], reply[1]
            self._claim_cursor = _id(cursor)
            for entry_id, fields in entries:
                if fields is None:  # Redis 6.2: deleted entry still in the PEL
                    await self.redis.xack(self.stream, self.group, entry_id)
                    continue
                if _id(entry_id) in self._inflight_ids:
                    continue  # our own slow handler, not a dead consumer's entry
                self.stats.claimed += 1
                await self._take(entry_id, fields, await self._delivery_count(entry_id))
                handled += 1
            if self.concurrency > 1 or self._claim_cursor == "0-0" or not entries:
                return handled

    async def _retake_own_orphans(self) -> int:
        """Entries pending for this very consumer that none of its tasks is working on: a
        handler ended without its acknowledgement taking effect (Redis failed mid-entry, or
        a failover dropped the write). A task's failure never reaches the read loop (which
        re-reads own entries when handling one by one), so they are taken again here, now
        rather than after ``claim_idle_ms`` (by then a note's grace period may be over);
        handlers are idempotent."""
        free = self._free_slots()
        if free <= 0:
            return 0
        rows: Any = await self.redis.xpending_range(
            self.stream, self.group, min="-", max="+", count=free,
            consumername=self.consumer, idle=ORPHAN_IDLE_MS,
        )  # fmt: skip
        ids: list[Any] = [_id(r["message_id"]) for r in rows]
        ids = [i for i in ids if i not in self._inflight_ids]
        if not ids:
            return 0
        claimed: Any = await self.redis.xclaim(
            self.stream, self.group, self.consumer, min_idle_time=ORPHAN_IDLE_MS,
            message_ids=ids,
        )  # fmt: skip
        handled = 0
        for entry_id, fields in claimed:
            if fields is None or _id(entry_id) in self._inflight_ids:
                continue
            log.warning("stream_entry_retaken", stream=self.stream, entry_id=_id(entry_id))
            await self._take(entry_id, fields, await self._delivery_count(entry_id))
            handled += 1
        return handled

    async def _delivery_count(self, entry_id: bytes | str) -> int:
        rows: Any = await self.redis.xpending_range(
            self.stream, self.group, min=entry_id, max=entry_id, count=1
        )
        if not rows:
            return 1
        return int(rows[0]["times_delivered"])

    async def _process(self, entry_id: bytes | str, fields: RawFields, deliveries: int) -> None:
        eid = _id(entry_id)
        if deliveries > self.max_deliveries:
            await self.dead_letter(eid, fields, "max_deliveries_exceeded", deliveries)
            return
        try:
            message = self.decoder(fields)
        except MalformedEntry as err:
            await self.dead_letter(eid, fields, f"malformed: {err}", deliveries)
            return
        retries = 0  # transient failures of this entry so far
        acked: Acked | None = None
        while True:
            try:
                delivery = Delivery(self.stream, eid, message, deliveries, self.group)
                acked = await self.handler(delivery)
            except PoisonEntry as err:
                await self.dead_letter(eid, fields, f"poison: {err}", deliveries)
                return
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError):
                raise  # the loop backs off; the entry stays pending
            except Exception as err:  # noqa: BLE001 - any handler failure means "retry later"
                if is_permission_error(err):
                    # The deployment is wrong, not the entry: retrying and dead-lettering
                    # would only lose it. Leave it pending; stop the service with one line.
                    raise
                self.stats.failed += 1
                retry = self.transient is not None and self.transient(err)
                delay = exponential(retries, TRANSIENT_RETRY_FIRST_S, self.transient_retry_max_s)
                log.warning(
                    "stream_handler_failed",
                    stream=self.stream,
                    group=self.group,
                    entry_id=eid,
                    deliveries=deliveries,
                    error=type(err).__name__,
                    retry_in_s=round(delay, 2) if retry else None,
                )
                if not retry or self._stop.is_set():
                    return
                if await sleep_or_stop(self._stop, delay):
                    return  # stays pending: this consumer re-reads it first on its next start
                retries += 1
                continue
            break
        if acked is not ACKED:
            await self.redis.xack(self.stream, self.group, eid)
        self.stats.handled += 1

    async def dead_letter(
        self, entry_id: str, fields: Mapping[bytes, bytes], reason: str, deliveries: int
    ) -> None:
        """Copy the entry to the dead-letter stream with why, then ack it (atomically)."""
        dead = dead_entry(self.stream, self.group, entry_id, fields, reason, deliveries)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_stream, dead)
            pipe.xack(self.stream, self.group, entry_id)
            await pipe.execute()
        self.stats.dead += 1
        log.warning(
            "stream_entry_dead_lettered",
            stream=self.stream,
            group=self.group,
            entry_id=entry_id,
            reason=reason.split(":", 1)[0],
            deliveries=deliveries,
        )


def dead_entry(
    stream: str,
    group: str,
    entry_id: str,
    fields: Mapping[bytes, bytes],
    reason: str,
    deliveries: int,
) -> dict[Any, Any]:
    """The dead-letter stream's entry for ``fields``: why and where from, then the original
    fields under ``f:`` (what ``medscribe dlq replay`` puts back)."""
    dead: dict[Any, Any] = {
        b"dead:stream": stream.encode(),
        b"dead:group": group.encode(),
        b"dead:entry_id": entry_id.encode(),
        b"dead:reason": reason[:500].encode(),
        b"dead:deliveries": str(deliveries).encode(),
        b"dead:at": str(int(time.time() * 1000)).encode(),
    }
    for key, value in fields.items():
        k = key if isinstance(key, bytes) else str(key).encode()
        dead[b"f:" + k] = value
    return dead


def _id(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
