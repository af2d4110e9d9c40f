"""One streaming v3 session of the simulator: Begin, audio checks, turns, control messages,
timers (inactivity, session cap, injected faults) and the closing handshake.

Every server-side clock runs `time_scale` times faster than the wall clock, so a client that
paces audio at `time_scale`x real time is treated exactly like a real-time client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass
from typing import Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from shared.logging import get_logger
from simulators.codec import mulaw_to_pcm16
from simulators.codec_decoder import StreamDecoder
from simulators.stt_config import SttSimConfig, SttSimStats
from simulators.stt_params import ParamError, SessionParams, apply_update_message
from simulators.stt_realism import (
    expires_at,
    extras_before,
    jittered,
    misheard,
    mislabelled,
    other_label,
    speaker_revision,
    with_nulls,
    without_text,
)
from simulators.stt_turns import Message, TurnTracker


class SttSimulator(Protocol):
    """What a session needs of the server that owns it."""

    config: SttSimConfig
    stats: SttSimStats

    def new_id(self) -> str: ...


log = get_logger(__name__)
_CONTROL = ("Terminate", "ForceEndpoint", "KeepAlive", "UpdateConfiguration")


class SessionEnd(Exception):
    """Raised inside a session to close it with `code` (after an Error frame unless 1000)."""

    phi_safe = True

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class SessionRecord:
    """What a client asked for and how it ended, kept in memory for tests (e.g. that a
    bridge sent `domain=medical-v1`); never logged."""

    id: str
    query: str
    params: SessionParams
    close_code: int | None = None
    audio_seconds: float = 0.0


class SttSession:
    def __init__(
        self,
        sim: SttSimulator,
        ws: ServerConnection,
        params: SessionParams,
        max_session_s: float,
        query: str = "",
        opened_at: float | None = None,
    ) -> None:
        self.sim = sim
        self.ws = ws
        self.params = params
        self.id = sim.new_id()
        self.max_session_s = max_session_s
        self.decoder = StreamDecoder(params.sample_rate)
        self.turns = TurnTracker(
            params, sim.config.legacy_double_final,
            swap_labels=sim.config.swap_labels_after_first and sim.stats.sessions_opened > 0,
        )  # fmt: skip
        self.audio_s = 0.0
        # The session clock starts when the connection opened (as billing does), so audio a
        # client queued while Begin was delayed does not count as running ahead.
        self.started = time.monotonic() if opened_at is None else opened_at
        self.last_activity = self.started
        self.record = SessionRecord(self.id, _without_token(query), params)
        self._extras = 0
        self._labelled_finals = 0
        # A final sent with the wrong speaker: (its true form, the wrong label); revised
        # after the next final or before Termination.
        self._to_revise: tuple[Message, str] | None = None
        seed = sim.config.seed
        self._rng = random.Random(None if seed is None else f"{seed}-{self.id}")
        # Replies that lag the audio (reply_latency_s) wait here; a drop loses them.
        self._outbox: asyncio.Queue[tuple[float, Message]] = asyncio.Queue()
        self._outbox_task: asyncio.Task[None] | None = None

    def wall_elapsed(self) -> float:
        return time.monotonic() - self.started

    def scaled_elapsed(self) -> float:
        return self.wall_elapsed() * self.sim.config.time_scale

    async def run(self) -> int:
        """Serve the session; returns the close code it ended with."""
        cfg = self.sim.config
        expires = time.time() - self.wall_elapsed() + self.max_session_s / cfg.time_scale
        begin = {
            "type": "Begin",
            "id": self.id,
            "expires_at": expires_at(expires, cfg.expires_at_format),
            "configuration": {"model": self.params.speech_model, "mode": "balanced",
                              "api_version": "2025-05-12"},
        }  # fmt: skip
        try:
            await self._send(begin)
            self.last_activity = time.monotonic()
            while True:
                timeout, fault = self._next_deadline()
                try:
                    async with asyncio.timeout(timeout):
                        msg = await self.ws.recv()
                except TimeoutError:
                    await self._timer_fired(fault)
                    continue
                self.last_activity = time.monotonic()
                if isinstance(msg, bytes):
                    await self._audio(msg)
                elif await self._control(msg):
                    return 1000
        except SessionEnd as end:
            return await self._end(end)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
            self._closed(code)  # the client went away first
            return code
        finally:
            if self._outbox_task is not None:
                self._outbox_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await self._outbox_task

    # -- timers ----------------------------------------------------------------------

    def _next_deadline(self) -> tuple[float | None, str]:
        """Wall seconds until the nearest timer, and which one it is."""
        cfg = self.sim.config
        now = time.monotonic()
        scale = cfg.time_scale
        cands: list[tuple[float, str]] = [(self.started + self.max_session_s / scale, "cap")]
        if self.params.inactivity_timeout:
            cands.append((self.last_activity + self.params.inactivity_timeout / scale, "idle"))
        if cfg.drop_every_s is not None:
            cands.append((self.started + cfg.drop_every_s / scale, "drop"))
        if cfg.error_after_s is not None:
            cands.append((self.started + cfg.error_after_s / scale, "error"))
        at, fault = min(cands)
        return max(0.0, at - now), fault

    async def _timer_fired(self, fault: str) -> None:
        cfg = self.sim.config
        timeout, current = self._next_deadline()
        if current != fault or (timeout or 0) > 0.001:
            return  # config changed at runtime or not yet due: recompute
        if fault == "cap":
            raise SessionEnd(3008, "Session Expired: Maximum session duration exceeded")
        if fault == "idle":
            log.info("stt_sim_inactivity_timeout", session_id=self.id)
            raise SessionEnd(1000, "inactivity timeout")
        if fault == "drop":
            log.info("stt_sim_fault_drop", session_id=self.id)
            raise SessionEnd(1006, "dropped")
        raise SessionEnd(cfg.error_code, "Session Cancelled: An error occurred")

    # -- input -----------------------------------------------------------------------

    async def _audio(self, chunk: bytes) -> None:
        cfg = self.sim.config
        p = self.params
        ms = round(len(chunk) / (p.bytes_per_sample * p.sample_rate) * 1000, 2)
        if not 50 <= ms <= 1000:
            raise SessionEnd(
                3007, f"Input duration violation: {ms:g} ms. Expected between 50 and 1000 ms"
            )
        self.audio_s += ms / 1000
        self.sim.stats.audio_seconds += ms / 1000
        elapsed = self.scaled_elapsed()
        if self.audio_s - elapsed > cfg.lookahead_s:
            raise SessionEnd(
                3007,
                "Audio Transmission Rate Exceeded: "
                f"Received {self.audio_s:.1f} sec. audio in {elapsed:.6f} sec",
            )
        if self.audio_s > self.max_session_s:
            raise SessionEnd(3008, "Session Expired: Maximum session duration exceeded")
        pcm = mulaw_to_pcm16(chunk) if p.encoding == "pcm_mulaw" else chunk
        await self._send_all(self.turns.handle(self.decoder.feed(pcm)))

    async def _control(self, text: str) -> bool:
        """Handle a text frame; True when the session has terminated normally."""
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            raise SessionEnd(3006, "Invalid JSON") from None
        if not isinstance(msg, dict):
            raise SessionEnd(3006, "Invalid Message: expected a JSON object")
        kind = msg.get("type")
        if kind not in _CONTROL:
            shown = kind if isinstance(kind, str) and len(kind) <= 40 else "?"
            raise SessionEnd(3006, f"Invalid Message Type: {shown}")
        if kind == "ForceEndpoint":
            out: list[Message] = []
            self.turns.end_turn(out)
            await self._send_all(out)
        elif kind == "UpdateConfiguration":
            try:
                apply_update_message(self.params, msg)
            except ParamError as err:
                raise SessionEnd(3006, f"Invalid Message: {err}") from None
        elif kind == "Terminate":
            await self._finish()
            return True
        return False  # KeepAlive: the activity timestamp is already updated

    # -- output ----------------------------------------------------------------------

    async def _send(self, msg: Message) -> None:
        await self.ws.send(json.dumps(msg))

    async def _send_all(self, msgs: list[Message]) -> None:
        cfg = self.sim.config
        for m in msgs:
            if cfg.reply_latency_s > 0:
                self._queue(m)
            else:
                await self._deliver(m)

    def _queue(self, m: Message) -> None:
        due = time.monotonic() + self.sim.config.reply_latency_s / self.sim.config.time_scale
        self._outbox.put_nowait((due, m))
        if self._outbox_task is None:
            self._outbox_task = asyncio.create_task(self._drain_outbox())

    async def _drain_outbox(self) -> None:
        while True:
            due, m = await self._outbox.get()
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self._deliver(m)
            finally:
                self._outbox.task_done()

    async def _drained(self) -> None:
        """Wait until every lagging reply is out (or the sender died with the socket)."""
        task = self._outbox_task
        if task is None or task.done():
            return
        joined = asyncio.ensure_future(self._outbox.join())
        await asyncio.wait({joined, task}, return_when=asyncio.FIRST_COMPLETED)
        joined.cancel()

    async def _deliver(self, m: Message) -> None:
        cfg = self.sim.config
        if m["type"] == "Turn":
            self.sim.stats.count_turn(m)
            if cfg.extra_messages:
                self._extras += 1
                for extra in extras_before(m, self._extras):
                    await self._send(extra)
            revise_after = self._revision_due(m)
            m = self._diarized(m)
            if cfg.mishear_drugs:
                m = misheard(m)
            if cfg.null_fields:
                m = with_nulls(m)
            every = cfg.unusable_final_every
            if m["end_of_turn"] and every and self.sim.stats.finals % every == 0:
                self.sim.stats.unusable_finals += 1
                m = without_text(m)
            m = jittered(m, self._rng, cfg.word_jitter_ms)
            await self._send(m)
            if revise_after is not None:
                await self._send(speaker_revision(revise_after))
            return
        await self._send(m)

    def _revision_due(self, m: Message) -> Message | None:
        """A final of a new turn: the turn mislabelled earlier gets its revision after it."""
        pending = self._to_revise
        if pending is None or not m["end_of_turn"] or m["turn_order"] == pending[0]["turn_order"]:
            return None
        self._to_revise = None
        return pending[0]

    def _diarized(self, m: Message) -> Message:
        """Every ``speaker_revision_every``-th labelled final goes out with the wrong
        speaker (a twin final of the same turn too); its revision follows later."""
        every = self.sim.config.speaker_revision_every
        label = m.get("speaker_label")
        if not every or not m["end_of_turn"] or not label or label == "UNKNOWN":
            return m
        pending = self._to_revise
        if pending is not None and pending[0]["turn_order"] == m["turn_order"]:
            return mislabelled(m, pending[1])
        self._labelled_finals += 1
        if self._labelled_finals % every:
            return m
        wrong = other_label(label)
        self._to_revise = (m, wrong)
        self.sim.stats.speaker_revisions += 1
        return mislabelled(m, wrong)

    async def _finish(self) -> None:
        """Flush the decoder and the current turn, send Termination, close 1000."""
        cfg = self.sim.config
        if cfg.terminate_hangs:  # the last turn and Termination never come
            await self.ws.wait_closed()
            self._closed(self.ws.close_code or 1006)
            return
        out = self.turns.handle(self.decoder.flush())
        self.turns.end_turn(out)
        await self._send_all(out)
        await self._drained()
        await self._send_revision()  # reclustering at the end: just before Termination
        if cfg.termination_delay_s > 0:
            await asyncio.sleep(cfg.termination_delay_s)
        await self._send(
            {
                "type": "Termination",
                "audio_duration_seconds": round(self.audio_s),
                "session_duration_seconds": round(self.scaled_elapsed()),
            }
        )
        self._closed(1000)  # before the close frame, so observers see it
        await self.ws.close(1000)

    async def _close(self, code: int, reason: str) -> None:
        """Close at once, as the service does: audio the client still sends is read and
        dropped meanwhile (unread, it would fill the receive queue, hide the client's
        close frame and hold the closing handshake for the whole close timeout)."""

        async def discard() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await self.ws.recv()

        drain = asyncio.create_task(discard())
        try:
            await self.ws.close(code, reason)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain

    async def _send_revision(self) -> None:
        """The pending SpeakerRevision, if a mislabelled final still waits for one (a
        dropped connection loses it, as it would lose any message)."""
        if self._to_revise is not None:
            await self._send(speaker_revision(self._to_revise[0]))
            self._to_revise = None

    def _closed(self, code: int) -> None:
        self.record.close_code = code
        self.record.audio_seconds = self.audio_s
        self.sim.stats.closed_by_code[code] += 1

    async def _end(self, end: SessionEnd) -> int:
        try:
            if end.code == 1006:
                self._closed(1006)
                self.ws.transport.abort()  # no closing handshake: the client sees 1006
                return 1006
            if end.code == 1000:
                await self._finish()
                return 1000
            await self._send_revision()  # the server ends it: its last reclustering goes out
            await self._send({"type": "Error", "error_code": end.code, "error": end.message})
            self._closed(end.code)
            reason = end.message if len(end.message) <= 123 else "See Error message for details"
            await self._close(end.code, reason)
        except ConnectionClosed:
            pass
        return end.code


async def reject(sim: SttSimulator, ws: ServerConnection, code: int, message: str) -> int:
    """Refuse a session after the upgrade, as the service does: Error frame, then close."""
    sim.stats.sessions_rejected += 1
    sim.stats.closed_by_code[code] += 1
    try:
        await ws.send(json.dumps({"type": "Error", "error_code": code, "error": message}))
        await ws.close(code, message[:123])
    except ConnectionClosed:
        pass
    return code


def _without_token(query: str) -> str:
    """The query as sent, minus a temporary token (a credential)."""
    return "&".join(p for p in query.split("&") if not p.startswith("token="))
