"""One encounter's task on this replica: sessions one after another until the encounter is
transcribed, failed, handed back or lost; reconnect policy (assemblyai-protocol.md §9.4).

Between sessions nothing is kept in memory that Redis does not also hold: each session
starts from the stored resume position, so a session on another replica (after a crash)
starts exactly where one here would have.

The runner owns the encounter's state (resume point, gaps, recent turns, speaker map) and
its ``AudioCursor``. A session gets the cursor, not the runner; its publisher reads the
resume point and returns what each write changed, which the runner applies (``TurnLog``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.stt_bridge.audio import AudioReader, Checkpoint
from services.stt_bridge.chunker import Rechunker, bytes_to_ms
from services.stt_bridge.closes import Next, fatal_reason
from services.stt_bridge.context import BridgeContext, EncounterInfo
from services.stt_bridge.cursor import AudioCursor, ResumePoint
from services.stt_bridge.ledger import LedgerError
from services.stt_bridge.publish import GapRecorded, Published
from services.stt_bridge.session import TERMINATION_TIMEOUT, SessionStop, run_session
from services.stt_bridge.state import LeaseLost, StateBehind, dump_revisions
from services.stt_bridge.url import unsupported_params
from shared.backoff import equal_jitter, exponential
from shared.contracts import (
    EncounterFailed,
    EncounterStarted,
    EncounterTranscribed,
    FinalTurn,
    SpeakerRevised,
    SttSessionUsage,
    SttSettings,
)
from shared.logging import get_logger
from shared.waiting import sleep_or_stop

__all__ = ["BridgeContext", "EncounterRunner", "Outcome"]  # BridgeContext: from context.py

log = get_logger(__name__)
T = TypeVar("T")
# Turns this owner published, kept to put back what a Redis failover lost (as capture
# keeps its recent frames): about two minutes of speech, far beyond replication lag.
RECENT_TURNS = 64
US_MIN_TURN_SILENCE_MS = 400  # the servers' defaults (assemblyai-protocol.md §7.1)
U3_MIN_TURN_SILENCE_MS = 100


class Outcome(StrEnum):
    """How an encounter's task on this replica ended (the ``outcome`` metric label)."""

    TRANSCRIBED = "transcribed"
    FAILED = "failed"
    HANDBACK = "handback"  # this replica stops (SIGTERM): another one continues
    LOST = "lost"  # the lease was lost: another replica owns the encounter
    CRASHED = "crashed"  # the task raised (set by the replica, service.py)
    CANCELLED = "cancelled"  # the task was cancelled (set by the replica)


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: half fixed, half random."""
    return equal_jitter(exponential(attempt, initial, cap), rng)


def resume_guard_ms(configured: int, stt: SttSettings) -> int:
    """How far after a final's last (estimated) word a resumed session starts.

    The server ends a turn only after ``min_turn_silence`` of silence, so anywhere within
    that silence is safe; half of it leaves room for word-time error either way. U3 gets
    the encounter's own value; Universal-Streaming is not sent one (the server's 400 ms).
    """
    if stt.universal_streaming:
        silence = US_MIN_TURN_SILENCE_MS
    else:
        silence = U3_MIN_TURN_SILENCE_MS if stt.min_turn_silence is None else stt.min_turn_silence
    return min(configured, silence // 2)


# Resends of a tail whose last turn never came after Terminate (each session waits twice
# as long as the one before) before it is recorded as a gap.
TAIL_RESENDS = 2


class EncounterRunner:
    def __init__(self, ctx: BridgeContext, started: EncounterStarted) -> None:
        self.ctx = ctx
        self.eid = started.encounter_id
        self.stt = started.stt
        s = ctx.settings
        self.resume_guard_ms = resume_guard_ms(s.resume_guard_ms, self.stt)
        if dropped := unsupported_params(self.stt):  # e.g. Medical Mode with whisper-rt
            log.warning(
                "stt_params_not_supported_by_model", encounter_id=self.eid,
                speech_model=self.stt.speech_model, params=dropped,
            )  # fmt: skip
        self.info = EncounterInfo(self.eid, self.stt, self.resume_guard_ms)
        reader = AudioReader(
            ctx.redis,
            ctx.names.audio(self.eid),
            encounter_id=self.eid,
            hub=ctx.audio,
            dead_stream=ctx.names.dead,
            dead_mark_prefix=ctx.names.key("bridge", "dead", ""),
        )
        # What each session reads and sends audio through (sought to the resume point).
        self.cursor = AudioCursor(
            reader, Rechunker(self.stt.sample_rate, s.chunk_ms), encounter_id=self.eid,
            metrics=ctx.metrics, stop_wait_s=s.stop_wait_s,
            latency_samples=ctx.latency_samples,
        )  # fmt: skip
        self.next_seq = 0
        self.resume_pos = 0
        self.ckpt: Checkpoint = ("0-0", 0, -1)
        # How long this session waits for `Termination`: doubled for each resend of an
        # unanswered tail (5, 10, 20 s), so a slow server does not cost the last turn.
        self.terminate_wait_s = s.terminate_timeout_s
        self.interrupted: Outcome | None = None  # HANDBACK or LOST
        self._halt = SessionStop()  # stops the streaming session on interrupt
        self.gap_seqs: list[int] = []
        self.reconnects = 0
        self.recent: dict[int, FinalTurn] = {}  # seq -> turn published by this owner
        self.last_key: tuple[str, int] | None = None  # (session, turn_order) last published
        # seq -> revised speaker label ("" = unassigned), kept in Redis with the state
        self.speaker_revisions: dict[int, str] = {}
        self._rng = random.Random()
        self._wake = asyncio.Event()

    @property
    def stop_seq(self) -> int | None:
        """``EncounterStopped.last_frame_seq`` once known (kept by the audio cursor, which
        ends the audio there); set by the replica."""
        return self.cursor.stop_seq

    @stop_seq.setter
    def stop_seq(self, seq: int | None) -> None:
        self.cursor.stop_seq = seq

    def ms(self, nbytes: int) -> float:
        return bytes_to_ms(nbytes, self.stt.sample_rate)

    def interrupt(self, why: Outcome) -> None:
        """Stop this encounter here (handback on SIGTERM, or the lease was lost)."""
        self.interrupted = self.interrupted or why
        self._wake.set()
        self._halt.stop()

    # -- the publisher's owner (TurnLog): where the encounter stands, what changed ------

    def resume_point(self) -> ResumePoint:
        return ResumePoint(self.next_seq, self.resume_pos, self.ckpt)

    def published(self, done: Published) -> None:
        """Bookkeeping after a turn was published (Redis now says the same)."""
        turn, at = done.turn, done.resume
        self.next_seq = at.seq
        self.resume_pos, self.ckpt = at.pos, at.ckpt
        self.last_key = (turn.stt_session_id, turn.turn_order)
        self.recent[turn.seq] = turn
        while len(self.recent) > RECENT_TURNS:
            del self.recent[min(self.recent)]

    def gap_recorded(self, gap: GapRecorded) -> None:
        """Bookkeeping after a gap was recorded (Redis now says the same)."""
        self.next_seq = gap.seq + 1
        self.gap_seqs.append(gap.seq)
        if gap.turn_order is not None:
            self.last_key = (gap.session_id, gap.turn_order)

    # -- Redis lost our newest writes ---------------------------------------------------

    async def restoring(self, write: Callable[[], Awaitable[T]]) -> T:
        """Run a fenced state write; if Redis turns out to have lost our newest writes,
        put them back and run it once more."""
        try:
            return await write()
        except StateBehind as behind:
            await self.restore_lost_state(behind.stored_seq)
            return await write()

    async def restore_lost_state(self, stored_seq: int) -> None:
        """Redis kept an older state than we wrote (a failover to a replica that had not
        received our newest writes): re-add the turns it lost, in order, and the state after
        them, so the visit goes on in the same STT session with nothing re-transcribed
        (re-streaming is billed, and a second pass may cut the turns differently than the
        one notes may already have stored). Without those turns in memory: LeaseLost, and
        the next owner resumes from what Redis kept."""
        gaps = set(self.gap_seqs)
        lost = [s for s in range(stored_seq, self.next_seq) if s not in gaps]
        if any(s not in self.recent for s in lost):
            raise LeaseLost(self.eid)
        fields: dict[str, str | int] = {
            "next_seq": self.next_seq, "resume_pos": self.resume_pos, "ckpt_id": self.ckpt[0],
            "ckpt_pos": self.ckpt[1], "ckpt_seq": self.ckpt[2], "reconnects": self.reconnects,
            "gaps": ",".join(str(g) for g in sorted(gaps)),
        }  # fmt: skip
        if self.last_key is not None:
            fields |= {"last_sid": self.last_key[0], "last_to": self.last_key[1]}
        if self.stop_seq is not None:
            fields["stop_seq"] = self.stop_seq
        if self.speaker_revisions:
            fields["spk_rev"] = dump_revisions(self.speaker_revisions)
        await self.ctx.store.restore(
            self.eid, self.ctx.leases.token, stored_seq=stored_seq,
            turns=[self.recent[s] for s in lost], fields=fields,
        )  # fmt: skip
        self.ctx.metrics.state_restored.inc()
        log.warning(
            "bridge_state_restored_after_redis_loss", encounter_id=self.eid,
            seq=stored_seq, turns=len(lost), next_seq=self.next_seq,
        )  # fmt: skip

    async def _check_state(self) -> None:
        """Before the outcome: Redis must hold every turn we published."""
        stored = await self.ctx.store.next_seq(self.eid)
        if stored < self.next_seq:
            await self.restore_lost_state(stored)

    async def revise_speakers(self, changed: dict[int, str | None]) -> None:
        """Record revised speaker labels of published turns (fenced, in the state hash:
        a new owner after a crash hands on the same map)."""
        self.speaker_revisions.update({seq: label or "" for seq, label in changed.items()})
        await self.ctx.store.set_fields(
            self.eid, self.ctx.leases.token, spk_rev=dump_revisions(self.speaker_revisions)
        )

    async def record_usage(self, usage: SttSessionUsage) -> None:
        with contextlib.suppress(LeaseLost):
            await self.ctx.store.record_session(self.eid, self.ctx.leases.token, usage)

    # -- the encounter loop --------------------------------------------------------------

    async def run(self) -> Outcome:
        """Returns the outcome: transcribed, failed, handback or lost."""
        try:
            return await self._run()
        finally:
            self.cursor.reader.close()

    async def _run(self) -> Outcome:
        ctx = self.ctx
        st = await ctx.store.load(self.eid)
        self.next_seq, self.resume_pos = st.next_seq, st.resume_pos
        self.ckpt, self.stop_seq = (st.ckpt_id, st.ckpt_pos, st.ckpt_seq), st.stop_seq
        self.gap_seqs, self.reconnects = list(st.gaps), st.reconnects
        self.speaker_revisions = dict(st.speaker_revisions or {})
        if st.sess_id:  # the previous owner died with a session open: account for it
            lease_s = ctx.settings.lease_ms / 1000
            dur = max(0.0, time.time() - lease_s - st.sess_started_ms / 1000)
            await self.record_usage(
                SttSessionUsage(session_id=st.sess_id, audio_duration_s=0,
                                session_duration_s=round(dur * ctx.settings.pace_factor))
            )  # fmt: skip
        log.info(
            "encounter_taken", encounter_id=self.eid, seq=self.next_seq,
            offset_ms=int(self.ms(self.resume_pos)),
        )  # fmt: skip
        attempt = 0  # reconnects in a row without a new final
        bug_retry_used = False
        termination_timeouts = 0
        refusals = 0  # 1008s in a row whose reason says neither rate limit nor account
        while True:
            if self.interrupted:
                return self.interrupted
            self.cursor.seek(self.ckpt, self.resume_pos)
            try:
                res = await run_session(
                    ctx, self.info, self.cursor, self, self._halt,
                    terminate_wait_s=self.terminate_wait_s,
                )  # fmt: skip
            except LeaseLost:
                self.interrupted = self.interrupted or Outcome.LOST
                return self.interrupted
            except (RedisConnectionError, RedisTimeoutError) as err:
                log.warning("redis_unavailable", encounter_id=self.eid, error=type(err).__name__)
                res = None
            if res is None:
                next_step, code, text = Next.TRANSIENT, None, "redis"
            else:
                next_step, code, text = res.next, res.code, res.error
                if res.published:
                    attempt, bug_retry_used = 0, False
            if next_step is Next.FINISHED:
                return await self._transcribed()
            if text == TERMINATION_TIMEOUT:
                termination_timeouts += 1
                if termination_timeouts > TAIL_RESENDS:  # resent, waited longer: a gap
                    return await self._tail_gap() or await self._transcribed()
                self.terminate_wait_s = ctx.settings.terminate_timeout_s * 2**termination_timeouts
            if next_step is Next.STOPPED or self.interrupted:
                return self.interrupted or Outcome.HANDBACK
            ctx.metrics.reconnects.labels(str(code if code is not None else "none")).inc()
            log.info(
                "stt_session_ended", encounter_id=self.eid, close_code=code,
                action=next_step.value,
            )  # fmt: skip
            refusals = refusals + 1 if next_step is Next.REFUSED else 0
            if next_step is Next.REFUSED and refusals > ctx.settings.refused_retries:
                next_step = Next.FATAL
            if next_step is Next.FATAL:
                return await self._failed(fatal_reason(code, text))
            if next_step is Next.ROTATE:
                continue
            s = ctx.settings
            if capped := self._reconnect_cap(attempt):
                return await self._failed(capped)
            if next_step is Next.BUG:
                log.error("stt_protocol_bug", encounter_id=self.eid, close_code=code)
                if bug_retry_used:
                    return await self._failed(
                        f"stt_protocol_error: AssemblyAI closed the session with code {code} "
                        "twice (message size or rate, or an invalid message); audio is kept."
                    )
                bug_retry_used = True
            delay = backoff_delay(attempt, s.backoff_initial_s, s.backoff_max_s, self._rng)
            if next_step in (Next.RATE_LIMIT, Next.REFUSED):
                delay = max(delay, backoff_delay(attempt, s.rate_limit_backoff_s, s.backoff_max_s,
                                                 self._rng))  # fmt: skip
            attempt += 1
            await self._count_reconnect()
            log.info("stt_reconnect_scheduled", encounter_id=self.eid, retry_in_s=round(delay, 3))
            await sleep_or_stop(self._wake, delay)

    def _reconnect_cap(self, in_row: int) -> str | None:
        """Why the encounter must stop reconnecting (each session is billed), or None."""
        s = self.ctx.settings
        if in_row >= s.reconnect_max_in_row:
            return (
                f"stt_reconnect_cap: {in_row + 1} STT sessions in a row ended without a "
                "transcribed turn; audio is kept for a later pass."
            )
        if self.reconnects >= s.reconnect_max_total:
            return (
                f"stt_reconnect_cap: the STT connection was re-opened {self.reconnects} times "
                "in this visit; audio is kept for a later pass."
            )
        return None

    async def _count_reconnect(self) -> None:
        self.reconnects += 1
        with contextlib.suppress(LeaseLost):  # kept in Redis: a new owner continues the count
            await self.ctx.store.set_fields(
                self.eid, self.ctx.leases.token, reconnects=self.reconnects
            )

    async def _tail_gap(self) -> Outcome | None:
        """The last turn was heard but never arrived: record it as a gap (shown like a
        missing turn) so the transcript never looks complete without it."""
        ctx = self.ctx
        seq = self.next_seq
        try:
            fresh = await self.restoring(
                lambda: ctx.store.record_gap(
                    self.eid, ctx.leases.token, seq=seq, session_id="termination-timeout",
                    turn_order=None,
                )
            )  # fmt: skip
        except LeaseLost:
            return Outcome.LOST
        if fresh:
            self.gap_recorded(GapRecorded(seq, "termination-timeout", None))
            ctx.metrics.gaps.inc()
            log.warning("last_turn_missing_gap_recorded", encounter_id=self.eid, seq=seq)
        return None

    async def _transcribed(self) -> Outcome:
        ctx = self.ctx
        try:
            await self._check_state()
        except LeaseLost:
            return Outcome.LOST
        sessions = await ctx.store.sessions(self.eid)
        msg = EncounterTranscribed(
            encounter_id=self.eid,
            turn_count=self.next_seq,
            audio_ms=round(self.ms(self.cursor.reader.pos)),
            stt_sessions=tuple(sessions),
            gap_seqs=tuple(sorted(set(self.gap_seqs))),
            speaker_revisions=tuple(
                SpeakerRevised(seq=seq, speaker=label or None)
                for seq, label in sorted(self.speaker_revisions.items())
            ),
        )
        try:
            await ctx.store.finish(self.eid, ctx.leases.token, msg)
        except LeaseLost:
            return Outcome.LOST
        if ctx.ledger is not None:
            try:
                await ctx.ledger.record(msg)
            except LedgerError as err:  # Redis holds it as done; only a rollback would repeat
                log.error("done_ledger_write_failed", encounter_id=self.eid, error=str(err))
        log.info(
            "encounter_transcribed", encounter_id=self.eid, turn_count=self.next_seq,
            audio_ms=msg.audio_ms, count=len(sessions),
        )  # fmt: skip
        return Outcome.TRANSCRIBED

    async def _failed(self, reason: str) -> Outcome:
        ctx = self.ctx
        msg = EncounterFailed(encounter_id=self.eid, stage="stt", reason=reason)
        try:
            await ctx.store.finish(self.eid, ctx.leases.token, msg)
        except LeaseLost:
            return Outcome.LOST
        log.error("encounter_failed", encounter_id=self.eid, reason=reason)
        return Outcome.FAILED
