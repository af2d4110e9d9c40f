"""One streaming v3 WebSocket session of an encounter: connect, Begin, a paced sender task,
the receive loop (partials, finals, errors), and the closing handshake.

The session starts at the encounter's resume position (just after the last published
final) and maps the server's session-relative word times back to encounter time by that
offset. Whatever ends it, the socket is closed on the way out (billing runs while it is
open); the caller decides what the end means (``SessionResult.next``).

A session never holds its encounter's runner: it reads and sends audio through the
runner's ``AudioCursor``, hands what its publisher returns to the runner's ``TurnLog``,
and is stopped mid-stream through a ``SessionStop`` the runner keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import KW_ONLY, dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from services.stt_bridge.closes import Next, classify_close, classify_handshake
from services.stt_bridge.context import BridgeContext, EncounterInfo
from services.stt_bridge.cursor import AudioCursor
from services.stt_bridge.finals import FinalSelector
from services.stt_bridge.messages import (
    TERMINATE,
    BeginMessage,
    ErrorMessage,
    MalformedMessage,
    ServerMessage,
    SpeakerRevisionMessage,
    TerminationMessage,
    TurnMessage,
    UnknownMessage,
    parse_server_message,
)
from services.stt_bridge.pacer import Pacer
from services.stt_bridge.publish import TurnLog, TurnPublisher
from services.stt_bridge.state import LeaseLost
from services.stt_bridge.url import build_streaming_url, formats_turns
from shared.contracts import SttSessionUsage
from shared.logging import get_logger
from shared.waiting import sleep_or_stop

log = get_logger(__name__)


TERMINATION_TIMEOUT = "termination_timeout"


@dataclass
class SessionResult:
    next: Next
    code: int | None = None
    error: str = ""
    published: int = 0


class SessionStop:
    """The runner's hold on its streaming session: ``stop()`` (handback, a lost lease)
    stops the current session sending, or the next one as soon as it has begun."""

    __slots__ = ("requested", "_session")

    def __init__(self) -> None:
        self.requested = False
        self._session: _Session | None = None

    def stop(self) -> None:
        self.requested = True
        if self._session is not None:
            self._session.stop_sending()

    def _attach(self, session: _Session | None) -> None:
        self._session = session
        if session is not None and self.requested:
            session.stop_sending()


async def run_session(
    ctx: BridgeContext,
    enc: EncounterInfo,
    cursor: AudioCursor,
    owner: TurnLog,
    halt: SessionStop,
    *,
    terminate_wait_s: float,
) -> SessionResult:
    """One session from ``cursor``'s position (the owner's resume point, already sought)."""
    s = ctx.settings
    url = build_streaming_url(s.streaming_url, enc.stt)
    try:
        ws = await asyncio.wait_for(
            connect(
                url,
                additional_headers={"Authorization": ctx.api_key},
                open_timeout=None,
                max_size=2**22,
                compression=None,
            ),
            s.connect_timeout_s,
        )
    except InvalidStatus as err:
        status = err.response.status_code
        log.warning("stt_handshake_rejected", encounter_id=enc.eid, status_code=status)
        return SessionResult(classify_handshake(status), status, f"HTTP {status}")
    except InvalidURI:
        return SessionResult(Next.FATAL, None, "invalid streaming URL")
    except (OSError, TimeoutError, InvalidHandshake) as err:
        log.warning("stt_connect_failed", encounter_id=enc.eid, error=type(err).__name__)
        return SessionResult(Next.TRANSIENT, 1006, type(err).__name__)
    try:
        session = _Session(ctx, enc, cursor, owner, ws, terminate_wait_s=terminate_wait_s)
        return await session.run(halt)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 2.0)


@dataclass(eq=False)
class _Session:
    ctx: BridgeContext
    enc: EncounterInfo
    cursor: AudioCursor
    owner: TurnLog
    ws: ClientConnection
    _: KW_ONLY
    terminate_wait_s: float
    sid: str = field(init=False, default="")
    expires_at: float | None = field(init=False, default=None)
    # Stop sending: rotation, handback, lost lease.
    halt: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    discard: bool = field(init=False, default=False)  # publish nothing more from this session
    rotating: bool = field(init=False, default=False)
    end_reached: bool = field(init=False, default=False)
    terminate_at: float | None = field(init=False, default=None)
    # Speech the server has heard (SpeechStarted, a partial) but not yet finalized: at a
    # Termination timeout only then is a turn missing.
    speech_pending: bool = field(init=False, default=False)
    error: ErrorMessage = field(init=False, default_factory=ErrorMessage)
    started: float = field(init=False, default_factory=time.monotonic)
    usage_recorded: bool = field(init=False, default=False)
    publisher: TurnPublisher | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.s = s = self.ctx.settings
        self.offset = self.cursor.sent_pos  # the resume position the cursor was sought to
        stt = self.enc.stt
        self.pacer = Pacer(
            stt.sample_rate * 2, pace_factor=s.pace_factor,  # bytes per second
            catchup=s.max_catchup_factor, max_lead_s=s.max_lead_s,
        )  # fmt: skip
        self.selector = FinalSelector(
            universal_streaming=stt.universal_streaming, format_turns=formats_turns(stt),
            wait_s=s.format_wait_s / s.pace_factor,
        )  # fmt: skip

    def stop_sending(self, rotating: bool = False) -> None:
        self.discard = True
        self.rotating = self.rotating or rotating
        self.halt.set()

    async def run(self, halt: SessionStop) -> SessionResult:
        ctx, enc = self.ctx, self.enc
        begin = await self._wait_begin()
        if not isinstance(begin, BeginMessage):
            return begin
        self.sid, self.expires_at = begin.id, begin.expires_at
        ctx.metrics.sessions.inc()
        await ctx.store.begin_session(enc.eid, ctx.leases.token, self.sid, self.offset)
        log.info(
            "stt_session_started", encounter_id=enc.eid, session_id=self.sid,
            offset_ms=int(enc.ms(self.offset)), speech_model=enc.stt.speech_model,
        )  # fmt: skip
        session_n = await ctx.store.session_count(enc.eid) + 1
        self.publisher = TurnPublisher(
            ctx, enc, self.owner, self.cursor, self.sid, self.offset, session_n
        )
        halt._attach(self)  # stops at once if the runner was interrupted before
        sender = asyncio.create_task(self._send_loop(), name=f"send-{enc.eid}")
        try:
            result = await self._receive_loop(sender)
        finally:
            halt._attach(None)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
        if not self.usage_recorded:
            await self._record_usage(None)
        assert self.publisher is not None
        result.published = self.publisher.published
        return result

    async def _wait_begin(self) -> BeginMessage | SessionResult:
        deadline = time.monotonic() + self.s.begin_timeout_s
        while True:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("stt_begin_timeout", encounter_id=self.enc.eid)
                return SessionResult(Next.TRANSIENT, None, "begin_timeout")
            except ConnectionClosed:
                return self._closed_result()
            msg = parse_server_message(raw)
            if isinstance(msg, BeginMessage):
                return msg
            if isinstance(msg, ErrorMessage):
                self.error = msg
            else:
                self._other(msg)

    # -- sending -------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        cur = self.cursor
        block_ms = max(5, int(self.s.chunk_ms / self.s.pace_factor))
        while not self.halt.is_set():
            chunk = cur.chunker.take()
            if chunk is None:
                if cur.at_end():
                    for tail in cur.chunker.take_final():
                        await self._send(tail)
                    self.end_reached = True
                    break
                frames = await cur.reader.read(block_ms, cur.frames_wanted())
                if frames:
                    cur.feed(frames)
                    continue
                cur.starved()
                idle = cur.chunker.take_idle()
                if idle is not None:
                    await self._send(idle)
                continue
            await self._send(chunk)
        await self.ws.send(TERMINATE)
        self.terminate_at = time.monotonic()

    async def _send(self, chunk: bytes) -> None:
        delay = self.pacer.delay()
        if delay > 0 and await sleep_or_stop(self.halt, delay):
            return
        await self.ws.send(chunk)
        self.pacer.sent(len(chunk))
        self.cursor.sent(len(chunk))

    # -- receiving -----------------------------------------------------------------------

    async def _receive_loop(self, sender: asyncio.Task[None]) -> SessionResult:
        while True:
            timeout = self._next_timeout()
            try:
                async with asyncio.timeout(timeout):  # no task per message, unlike wait_for
                    raw = await self.ws.recv()
            except TimeoutError:
                if self.terminate_at is not None and (
                    time.monotonic() - self.terminate_at >= self.terminate_wait_s
                ):
                    log.warning(
                        "stt_termination_timeout", encounter_id=self.enc.eid,
                        turn_pending=self.speech_pending,
                    )  # fmt: skip
                    if self.end_reached and not self.discard and self.speech_pending:
                        # The last turn was heard but never came: the caller re-sends the
                        # audio after the last published final once, then records a gap.
                        return SessionResult(Next.TRANSIENT, None, TERMINATION_TIMEOUT)
                    # Nothing heard is missing: a slow Termination costs no new session.
                    return self._after_termination()
                await self._publish(self.selector.expired(time.monotonic()))
                self._maybe_rotate(after_final=False)
                if sender.done() and not sender.cancelled() and sender.exception() is not None:
                    raise _failure(sender) from None
                continue
            except ConnectionClosed:
                failed = sender.done() and not sender.cancelled() and sender.exception()
                if failed and not isinstance(failed, ConnectionClosed):
                    raise _failure(sender) from None
                return self._closed_result()
            msg = parse_server_message(raw, last_partial_word=True)  # partials: the last word
            if isinstance(msg, TurnMessage):
                if self.terminate_at is not None:  # still flushing: give it the full wait
                    self.terminate_at = time.monotonic()
                await self._turn(msg)
            elif isinstance(msg, TerminationMessage):
                if not self.discard:
                    await self._publish(self.selector.flush())
                await self._record_usage(msg)
                return self._after_termination()
            elif isinstance(msg, SpeakerRevisionMessage):
                if not self.discard:  # may come right before Termination, after the last turn
                    assert self.publisher is not None
                    await self.publisher.revise(msg)
            elif isinstance(msg, MalformedMessage) and msg.final:
                self._other(msg)
                await self._lost(msg.turn_order)
            elif isinstance(msg, ErrorMessage):
                self.error = msg
                log.warning(
                    "stt_error_message", encounter_id=self.enc.eid, session_id=self.sid,
                    code=msg.error_code, error=msg.error[:120],
                )  # fmt: skip
            else:
                self._other(msg)

    def _next_timeout(self) -> float:
        now = time.monotonic()
        t = 1.0
        if self.terminate_at is not None:
            t = min(t, self.terminate_at + self.terminate_wait_s - now)
        if (d := self.selector.deadline) is not None:
            t = min(t, d - now)
        return max(0.001, t)

    async def _turn(self, msg: TurnMessage) -> None:
        if self.discard:
            return
        assert self.publisher is not None
        if not msg.end_of_turn:
            self.speech_pending = self.speech_pending or bool(msg.transcript.strip())
            await self.publisher.partial(msg)
        elif msg.text_missing:
            await self._lost(msg.turn_order)
            return
        selected = self.selector.feed(msg, time.monotonic())
        await self._publish(selected)
        if selected:
            self._maybe_rotate(after_final=True)

    async def _lost(self, turn_order: int | None) -> None:
        """A final that cannot be used: recorded as a gap on the encounter, never dropped."""
        if self.discard:
            return
        assert self.publisher is not None
        selected, gap = self.selector.lost(turn_order)
        await self._publish(selected)
        if gap and not self.discard:
            recorded = await self.publisher.gap(turn_order)
            if recorded is not None:
                self.owner.gap_recorded(recorded)
            self.speech_pending = False

    async def _publish(self, selected: list[tuple[TurnMessage, bool]]) -> None:
        assert self.publisher is not None
        for msg, formatted in selected:
            if self.discard:
                return
            done = await self.publisher.final(msg, formatted, self.cursor.sent_pos)
            if done is not None:
                self.owner.published(done)
            self.speech_pending = False

    def _maybe_rotate(self, *, after_final: bool) -> None:
        before = self.s.session_rotate_before_s
        if before <= 0 or self.expires_at is None or self.discard:
            return
        left = (self.expires_at - time.time()) * self.s.pace_factor
        if left <= before if after_final else left <= before / 2:
            log.info("stt_session_rotating", encounter_id=self.enc.eid, session_id=self.sid)
            self.stop_sending(rotating=True)

    def _other(self, msg: ServerMessage) -> None:
        kind = msg.type if isinstance(msg, UnknownMessage) else "<malformed>"
        if kind == "SpeechStarted":
            self.speech_pending = True
        else:
            log.info("stt_message_ignored", encounter_id=self.enc.eid, kind=kind)
        self.ctx.metrics.unknown_messages.labels(kind).inc()

    # -- ending --------------------------------------------------------------------------

    def _after_termination(self) -> SessionResult:
        if self.rotating:
            return SessionResult(Next.ROTATE, 1000)
        if self.discard:
            return SessionResult(Next.STOPPED, 1000)
        if self.end_reached:
            return SessionResult(Next.FINISHED, 1000)
        return SessionResult(Next.TRANSIENT, 1000, "termination_before_end")

    def _closed_result(self) -> SessionResult:
        code = self.ws.close_code
        if self.error.error_code is not None:
            code = self.error.error_code
        if code is None:
            code = 1006
        if self.discard:
            return SessionResult(Next.ROTATE if self.rotating else Next.STOPPED, code)
        if self.end_reached and self.terminate_at is not None and code == 1000:
            return SessionResult(Next.FINISHED, code)
        text = self.error.error or (self.ws.close_reason or "")
        return SessionResult(classify_close(code, text), code, text[:200])

    async def _record_usage(self, term: TerminationMessage | None) -> None:
        if not self.sid:
            return
        self.usage_recorded = True
        if term is not None:
            audio_s, session_s = term.audio_duration_seconds, term.session_duration_seconds
        else:  # no Termination (drop, error): our own measurement
            audio_s = self.pacer.sent_s
            session_s = (time.monotonic() - self.started) * self.s.pace_factor
        usage = SttSessionUsage(
            session_id=self.sid,
            audio_duration_s=round(audio_s),
            session_duration_s=round(session_s),
        )
        with contextlib.suppress(LeaseLost):  # as the runner's own record_usage
            await self.ctx.store.record_session(self.enc.eid, self.ctx.leases.token, usage)


def _failure(task: asyncio.Task[None]) -> BaseException:
    exc = task.exception()
    assert exc is not None
    return exc
