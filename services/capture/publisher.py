"""Frame writer: every frame reaches Redis exactly once and in order, or waits on disk.

Exactly-once, in order — how:
- Each frame is XADDed with an explicit entry id ``<seq+1>-0``. Redis refuses an id that
  is not greater than the stream's top ("equal or smaller than the target stream top
  item"), so re-sending a frame whose XADD may or may not have landed (connection lost
  before the reply) is harmless: the duplicate is refused and counted as written. The
  same rule makes a reorder impossible, even if a half-dead old connection delivers a
  late command. Frames are sent strictly in seq order by this single writer.
- When Redis is unreachable, the unconfirmed frames and every later one are appended to
  the encounter's spool file (fsync'd every ``fsync_frames``) and flushed, in order, when
  Redis answers again, *before* any new frame is sent. The spool keeps its confirmed
  offset on disk, so a later start of the agent finishes the flush.
- After every reconnect the writer reads the stream's top id. If Redis lost frames it had
  confirmed (a restart without persistence, or AOF ``everysec`` losing its last second),
  the writer re-sends them from a ring of recently confirmed frames; what is older than the
  ring is reported as lost (``audio_lost_in_redis``) rather than hidden.
- On Redis Cluster a failover can drop writes the old primary acknowledged (replication is
  asynchronous). The agent's client does not retry on its own (``make_redis(retry=False)``),
  so the failover reaches this writer as an error and the check above runs before the next
  frame is written; the same check also runs every ``verify_every_s`` while Redis answers
  and once after the last write, for a loss no error revealed. A clinic's keys share one
  slot, so one primary and one ordered replication stream: a loss is always a suffix of
  what this agent wrote. If the newest frame is there, so is everything before it; if
  frames were lost after the EncounterStopped was sent, the stop was lost too and is re-sent
  after them (docs/cluster.md).
- The visit's last write, its EncounterStopped, is sent with ``WAIT`` on Redis Cluster
  (``wait``): a replica holding it holds every frame before it (one replication stream).
  When none confirms it in time (a replica down, or a primary cut off from its replica
  that still acknowledges writes it will drop when it learns it was replaced), the writer
  keeps checking the stream's top for ``settle_s`` before it reports the visit sent; a
  replaced primary answers MOVED or stops answering by then, and the check re-sends.
- A primary that was cut off rather than dead (a network partition, a paused VM) can still
  acknowledge a frame after its replica took over, then turn replica and drop it. Had the
  next frame simply followed the MOVED reply to the new primary, the stream would have a
  hole there. A batch is a MULTI/EXEC transaction, which the cluster client does not
  redirect, and the agent's client does not retry: a MOVED reaches the writer as an error
  like any outage, and the check above (whose read does follow it) re-sends what the new
  primary lacks before any later frame is written (tests/cluster/test_cluster_durability.py
  holds the client to that).
While Redis answers, frames go from memory straight to Redis (the spool file is written
only during an outage): an agent killed at that moment loses only the frames of the
batch in flight, normally under 100 ms of audio.
Control messages (EncounterStarted/Stopped) travel in the same ordered queue, so Started
precedes the first frame and Stopped follows the last. They use automatic ids on the
shared control stream, so a control re-sent after an unknown outcome may appear twice;
consumers are idempotent on the encounter id (ARCHITECTURE §3).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import MovedError, OutOfMemoryError, RedisError, ResponseError

from services.capture.spool import (
    KIND_CONTROL,
    KIND_FRAME,
    EncounterSpool,
    Record,
    SpoolFull,
    control_payload,
)
from shared.backoff import exponential
from shared.contracts import MalformedEntry, audio_fields, decode_audio
from shared.logging import get_logger
from shared.streams import ReplicaWait, WaitStats, write_replicated
from shared.waiting import sleep_or_stop

log = get_logger(__name__)

CONTROL_PLAIN = 0
CONTROL_STOP = 1


TOP_SCAN = 200  # entries searched back for the newest real frame
SETTLE_CHECK_S = 0.5  # how often the stream's top is read while the last write settles


def frame_entry_id(seq: int) -> str:
    """Stream entry id of frame ``seq`` (ids must be > 0-0, hence the +1)."""
    return f"{seq + 1}-0"


def _is_stop(rec: Record) -> bool:
    return rec.kind == KIND_CONTROL and rec.seq == CONTROL_STOP


def _is_duplicate(err: BaseException) -> bool:
    return isinstance(err, ResponseError) and "equal or smaller" in str(err)


@dataclass
class WriterStatus:
    online: bool = True
    frames_confirmed: int = 0
    last_confirmed_seq: int = -1
    spool_bytes: int = 0
    near_budget: bool = False
    lost_in_redis: int = 0
    last_error: str | None = None


@dataclass(eq=False)
class FrameWriter:
    """Ordered, idempotent writer of one encounter's frames and control messages."""

    redis: aioredis.Redis
    audio_stream: str
    spool: EncounterSpool
    _: KW_ONLY
    budget_bytes: int
    other_spool_bytes: int = 0
    warn_ratio: float = 0.8
    fsync_frames: int = 20
    recent_frames: int = 1200
    batch: int = 50
    start_spooling: bool = False
    verify_every_s: float = 1.0
    wait: ReplicaWait | None = None
    settle_s: float = 3.0
    wait_stats: WaitStats = field(init=False, default_factory=WaitStats)
    # Control records to re-send when Redis turns out to have lost this encounter's
    # stream (restart without persistence): the EncounterStarted.
    replay_on_loss: list[Record] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.status = WriterStatus(online=not self.start_spooling, spool_bytes=self.spool.size)
        self._queue: deque[Record] = deque()
        self._recent: deque[tuple[int, bytes]] = deque(maxlen=max(self.recent_frames, 1))
        self._keep_recent = self.recent_frames > 0
        self._auto_ids = False  # set once a foreign entry blocks our frame ids
        self._wake = asyncio.Event()
        self._closing = False
        self._check_top = self.start_spooling
        self._next_verify = time.monotonic() + self.verify_every_s
        self._final_verified = False
        self._settle_until: float | None = None  # the stop's WAIT failed: check until then
        self._stop_sent: Record | None = None  # re-sent if frames before it are lost

    # -- producer side (capture loop) -----------------------------------------------
    async def add_frame(self, seq: int, pcm: bytes) -> None:
        await self._add(Record(KIND_FRAME, seq, pcm, 0))

    async def add_control(
        self, stream: str, fields: dict[str, str], stop: bool = False, replay: bool = False
    ) -> None:
        """Queue a control entry; ``replay`` ones are re-sent if Redis loses the encounter."""
        kind_seq = CONTROL_STOP if stop else CONTROL_PLAIN
        rec = Record(KIND_CONTROL, kind_seq, control_payload(stream, fields), 0)
        if replay:
            self.replay_on_loss.append(rec)
        await self._add(rec)

    async def _add(self, rec: Record) -> None:
        if self.status.online:
            self._queue.append(rec)
            self._wake.set()
            return
        self._spool_append(rec, enforce_budget=True)
        if self.spool.unsynced >= self.fsync_frames or rec.kind == KIND_CONTROL:
            await self.spool.sync()
        self._wake.set()

    def _spool_append(self, rec: Record, enforce_budget: bool = False) -> None:
        """Append to the spool. Only new frames are held to the budget: what was already
        accepted (the in-memory queue, at most one Redis timeout's worth) and control
        entries always go in, so the budget can never cut a hole into a visit."""
        used = self.other_spool_bytes + self.spool.size
        over = used + len(rec.payload) + 64 > self.budget_bytes
        if enforce_budget and over and rec.kind == KIND_FRAME:
            raise SpoolFull(
                f"spool budget of {self.budget_bytes} bytes reached in {self.spool.dir.parent}"
            )
        try:
            self.spool.append(rec.kind, rec.seq, rec.payload)
        except OSError as err:  # disk full or failing: say so, never pretend it is kept
            where = self.spool.dir.parent
            raise SpoolFull(f"cannot write the spool in {where}: {err.strerror}") from None
        if _is_stop(rec):
            self.spool.mark_stopped(-1)
        self.status.spool_bytes = self.spool.size - self.spool.flushed
        near = used >= self.warn_ratio * self.budget_bytes
        if near and not self.status.near_budget:
            log.warning("spool_near_budget", spool_bytes=used, budget_bytes=self.budget_bytes)
        self.status.near_budget = near

    # -- writer loop -------------------------------------------------------------------
    async def run(self) -> None:
        """Write until closed and drained. Never raises for Redis trouble: it spools."""
        failures = 0  # spool flushes failed in a row: the retry doubles from 0.2 s to 2 s
        while True:
            if self.status.online:
                if self.verify_every_s > 0 and time.monotonic() >= self._next_verify:
                    await self._verify_online()
                    continue
                if not self._queue:
                    if self._closing:
                        if not self._final_verified:  # one last look after the last write
                            self._final_verified = True
                            await self._verify_online()
                            continue
                        if self._settling():
                            await asyncio.sleep(self._until_settled())
                            await self._verify_online()
                            continue
                        return
                    self._wake.clear()
                    await sleep_or_stop(self._wake, self._until_verify())
                    continue
                batch = [self._queue[i] for i in range(min(self.batch, len(self._queue)))]
                done, error = await self._send(batch)
                for _ in range(done):
                    self._queue.popleft()
                if error is not None:
                    self._go_offline(error)
                    await self.spool.sync()
                continue
            try:
                if self._check_top:
                    await self._repair()
                    self._check_top = False
                recs = self.spool.read(self.batch)
                if not recs:
                    self.spool.reset()
                    self.status.online = True
                    self.status.last_error = None
                    self.status.spool_bytes = 0
                    self.status.near_budget = False
                    log.info(
                        "redis_back_spool_flushed", last_frame_seq=self.status.last_confirmed_seq
                    )
                    continue
                done, error = await self._send(recs)
                if done:
                    durable = any(r.kind == KIND_CONTROL for r in recs[:done])
                    self.spool.confirm(recs[done - 1].end, durable=durable)
                    self.status.spool_bytes = self.spool.size - self.spool.flushed
                if error is not None:
                    raise error
                failures = 0
            except (RedisError, OSError) as err:
                self._check_top = True
                self.status.last_error = type(err).__name__
                await asyncio.sleep(exponential(failures, 0.2, 2.0))
                failures += 1

    def _settling(self) -> bool:
        """The stop has no replica yet and the settle time is not over."""
        if self._settle_until is None:
            return False
        if time.monotonic() < self._settle_until:
            return True
        self._settle_until = None
        log.warning("audio_replication_unconfirmed", settle_s=self.settle_s)
        return False

    def _until_settled(self) -> float:
        assert self._settle_until is not None
        return max(0.0, min(SETTLE_CHECK_S, self._settle_until - time.monotonic()))

    def _until_verify(self) -> float | None:
        if self.verify_every_s <= 0:
            return None
        return max(0.0, self._next_verify - time.monotonic())

    async def _verify_online(self) -> None:
        """Check the stream still holds every confirmed frame; re-send what it lost."""
        self._next_verify = time.monotonic() + self.verify_every_s
        try:
            await self._repair()
        except (RedisError, OSError) as err:
            self._go_offline(err)
            await self.spool.sync()

    def _go_offline(self, err: BaseException) -> None:
        """Redis failed: everything not confirmed goes to disk, in order."""
        self.status.online = False
        self.status.last_error = type(err).__name__
        self._check_top = True
        log.warning(
            # Out of memory (maxmemory, noeviction) is not an outage: say which it is.
            "redis_out_of_memory_spooling"
            if isinstance(err, OutOfMemoryError)
            else "redis_primary_moved_checking"
            if isinstance(err, MovedError)
            else "redis_unreachable_spooling",
            error=type(err).__name__,
            frames=len(self._queue),
            last_frame_seq=self.status.last_confirmed_seq,
        )
        self._spool_queue()

    def _spool_queue(self) -> None:
        """Move the in-memory queue to disk, in order (on a Redis failure or at exit)."""
        try:
            while self._queue:
                self._spool_append(self._queue[0])
                self._queue.popleft()
        except SpoolFull as err:
            log.error("spool_write_failed_audio_lost", frames=len(self._queue), error=str(err))
            self._queue.clear()

    async def _send(self, recs: list[Record]) -> tuple[int, BaseException | None]:
        """Send the records in order; returns how many leading ones are confirmed, and the
        error that stopped the rest (None when all are in Redis)."""
        if self.wait is None or not recs or not _is_stop(recs[-1]):
            return await self._send_batch(recs)
        done, error = await self._send_batch(recs[:-1]) if len(recs) > 1 else (0, None)
        if error is None:
            try:
                await self._send_stop_replicated(recs[-1], self.wait)
                done += 1
            except (RedisError, OSError) as err:
                error = err
        return done, error

    async def _send_stop_replicated(self, rec: Record, wait: ReplicaWait) -> None:
        """The stop alone, with WAIT on the same connection (a single XADD needs no
        transaction); without a replica's word the settle time starts."""
        stream, fields = rec.control()
        _entry, replicated = await write_replicated(
            self.redis, wait, self.wait_stats, stream, lambda pipe: pipe.xadd(stream, fields)
        )
        self._stop_written(rec)
        self._settle_until = None if replicated else time.monotonic() + self.settle_s

    async def _send_batch(self, recs: list[Record]) -> tuple[int, BaseException | None]:
        """Pipeline the records in one transaction; returns how many leading ones are
        confirmed, and the error that stopped the rest (None when all are in Redis)."""
        if not recs:
            return 0, None
        try:
            # MULTI/EXEC: all of the batch or none of it. Without it Redis refuses single
            # commands of a pipeline (out of memory) while it takes later ones as memory
            # comes and goes, and the refused frame, re-sent, lands after its successors:
            # readers go by seq, skip it, and a word is cut.
            async with self.redis.pipeline(transaction=True) as pipe:
                for rec in recs:
                    if rec.kind == KIND_FRAME:
                        fields: Any = audio_fields(rec.seq, rec.payload)
                        pipe.xadd(self.audio_stream, fields, id=self._frame_id(rec.seq))
                    else:
                        stream, cfields = rec.control()
                        pipe.xadd(stream, cfields)  # type: ignore[arg-type]
                results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as err:
            return 0, err
        for done, (rec, result) in enumerate(zip(recs, results, strict=True)):
            if isinstance(result, BaseException) and _is_duplicate(result):
                if rec.kind == KIND_FRAME:
                    try:
                        await self._add_behind_foreign(rec)
                    except (RedisError, OSError) as err:
                        return done, err
            elif isinstance(result, BaseException):
                return done, result
            if rec.kind == KIND_FRAME:
                self._confirmed(rec.seq, rec.payload)
            elif rec.seq == CONTROL_STOP:
                self._stop_written(rec)
        return len(recs), None

    def _stop_written(self, rec: Record) -> None:
        self.spool.mark_stopped(self.status.last_confirmed_seq)
        self._stop_sent = rec

    def _frame_id(self, seq: int) -> str:
        return "*" if self._auto_ids else frame_entry_id(seq)

    async def _add_behind_foreign(self, rec: Record) -> None:
        """An "id too small" reply is a true duplicate only if our entry is there. If not,
        something else wrote to this audio stream with a newer id, and every frame id we
        would use is now refused: add the frame with an automatic id instead (readers go
        by the frame's ``seq`` field and skip repeats), and keep doing so."""
        fid = frame_entry_id(rec.seq)
        if not self._auto_ids and await self.redis.xrevrange(
            self.audio_stream, max=fid, min=fid, count=1
        ):
            return  # really there: a re-send after an unconfirmed write
        if not self._auto_ids:
            log.warning("audio_stream_foreign_entries", frame_seq=rec.seq)
            self._auto_ids = True
        fields: Any = audio_fields(rec.seq, rec.payload)
        await self.redis.xadd(self.audio_stream, fields)

    def _confirmed(self, seq: int, pcm: bytes) -> None:
        if seq > self.status.last_confirmed_seq:
            self.status.last_confirmed_seq = seq
            self.status.frames_confirmed += 1
            if self._keep_recent:
                self._recent.append((seq, pcm))

    async def _repair(self) -> None:
        """After a reconnect: re-send confirmed frames that Redis no longer has."""
        top = await stream_top_seq(self.redis, self.audio_stream)
        expected = self.status.last_confirmed_seq
        if top >= expected:
            return
        resend = [(s, p) for s, p in self._recent if s > top]
        first_available = resend[0][0] if resend else expected + 1
        lost = max(0, first_available - top - 1)
        if lost:
            self.status.lost_in_redis += lost
            log.error("audio_lost_in_redis", frames=lost, frame_seq=top + 1)
        if resend or top == -1:
            log.warning("audio_resent_after_redis_loss", frames=len(resend))
            recs = [Record(KIND_FRAME, s, p, 0) for s, p in resend]
            if top == -1:  # the whole stream is gone, and the control entries with it
                recs = self.replay_on_loss + recs
            if self._stop_sent is not None:  # written after the lost frames: lost as well
                recs.append(self._stop_sent)
            for i in range(0, len(recs), self.batch):
                _done, error = await self._send(recs[i : i + self.batch])
                if error is not None:
                    raise error

    # -- shutdown ----------------------------------------------------------------------
    @property
    def drained(self) -> bool:
        return self.status.online and not self._queue and not self.spool.pending

    async def close(
        self, task: asyncio.Task[None], timeout: float, abort: asyncio.Event | None = None
    ) -> bool:
        """Finish writing within ``timeout`` s (or until ``abort``); the rest stays spooled.

        Returns True when everything reached Redis.
        """
        self._closing = True
        self._wake.set()
        waiters: set[asyncio.Future[Any]] = {task}
        aborter = asyncio.ensure_future(abort.wait()) if abort is not None else None
        if aborter is not None:
            waiters.add(aborter)
        if timeout > 0 and not (abort is not None and abort.is_set()):
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if aborter is not None:
            aborter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        elif not task.cancelled() and task.exception() is not None:
            log.error("frame_writer_crashed", error=type(task.exception()).__name__)
        if self._queue:  # unconfirmed in memory: keep them on disk for the next start
            self.status.online = False
            self._spool_queue()
        await self.spool.sync()
        return self.drained


async def stream_top_seq(redis: aioredis.Redis, stream: str) -> int:
    """Seq of the newest frame in an audio stream (-1 when the stream is empty or gone)."""
    # The frame's own seq field, not its id: entries written by anything else (a bug, a
    # foreign writer) may sit on top with ids that mean nothing.
    for count in (1, TOP_SCAN):  # the newest entry is nearly always a frame: read just it
        rows: Any = await redis.xrevrange(stream, count=count)
        for _entry_id, fields in rows or []:
            try:
                return decode_audio(fields).seq
            except MalformedEntry:
                continue
        if len(rows or []) < count:
            break  # the whole stream was read
    return -1
