"""The capture run loop: one visit from an audio source into Redis (or the spool).

``run`` takes settings and clients; the CLI owns signals, terminals and menus.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from services.capture.config import CaptureSettings
from services.capture.live_link import show_live_link
from services.capture.live_view import LiveView, NullView, Summary
from services.capture.publisher import FrameWriter, WriterStatus
from services.capture.recovery import recover_spools
from services.capture.refused import keep_refused
from services.capture.sources import FRAME_SECONDS, AudioSource
from services.capture.spool import EncounterSpool, SpoolFull, spool_usage
from services.capture.watcher import REVOKED, ServerWord, watch_encounter
from shared import rooms
from shared.contracts import EncounterStarted, EncounterStopped, StreamNames, encode
from shared.logging import get_logger
from shared.private_files import private_dir
from shared.streams import ReplicaWait
from shared.waiting import first_of, sleep_or_stop

log = get_logger(__name__)


@dataclass(frozen=True)
class CaptureResult:
    encounter_id: str
    last_frame_seq: int  # -1 when no audio was captured
    delivered: bool  # everything is in Redis (False: the rest waits in the spool)
    # "end_of_input", "stopped", "max_duration", "spool_full", "source_error", "refused"
    stop_reason: str
    status: WriterStatus
    refused: str | None = None  # the server's reason code when it refused the visit
    kept_in: str | None = None  # where a refused visit's audio is kept on this machine
    export_dir: str | None = None  # where the server says it wrote the visit's files


def new_encounter_id(room: str, now: datetime | None = None) -> str:
    """``<room>-<UTC time>-<random>``: unique, sortable, readable by clinic staff."""
    now = now or datetime.now(UTC)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", room).strip("-")[:24] or "room"
    return f"{slug}-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass
class StopSignals:
    """Set by the CLI: ``stop`` on the first Ctrl+C/SIGTERM, ``now`` on the second."""

    stop: asyncio.Event
    now: asyncio.Event

    @classmethod
    def create(cls) -> StopSignals:
        return cls(asyncio.Event(), asyncio.Event())


async def run(
    settings: CaptureSettings,
    source: AudioSource,
    redis: aioredis.Redis,
    *,
    llm_model: str,
    keyterms: tuple[str, ...] = (),
    view: LiveView | None = None,
    signals: StopSignals | None = None,
    encounter_id: str | None = None,
    stop_timeout: float = 15.0,
) -> CaptureResult:
    """Record one encounter until end of input or a stop signal; return what happened."""
    visit, started = _open_visit(
        settings,
        redis,
        view or NullView(),
        signals or StopSignals.create(),
        encounter_id,
        llm_model,
        keyterms,
    )
    await _announce(visit, started, source.description)
    helpers = _start_helpers(visit)
    frames, reason = await _record(visit, source)
    last = frames - 1
    if helpers.word.refused is not None:
        reason = "refused"  # never admitted: no stop to send, nothing will be transcribed
    else:
        stopped = EncounterStopped(encounter_id=visit.encounter_id, last_frame_seq=last)
        await visit.writer.add_control(visit.control, encode(stopped), stop=True)
    visit.view.stopping(last)
    delivered = await _deliver(visit, helpers, stop_timeout)
    if helpers.word.refused is not None:
        reason = "refused"  # also when the refusal came after a short recording ended
    helpers.watch_stop.set()
    if delivered:
        await _let_earlier_visits_finish(visit, helpers.recovery, stop_timeout)
    await _stop_helpers(visit, helpers)
    kept_in = await _put_spool_away(visit, helpers.word, delivered)
    return _finish(visit, helpers.word, last, reason, delivered, kept_in)


@dataclass(frozen=True)
class _Visit:
    """One recording's settings, clients and parts, handed from step to step of ``run``."""

    settings: CaptureSettings
    redis: aioredis.Redis
    names: StreamNames
    view: LiveView
    signals: StopSignals
    encounter_id: str
    room: str | None  # set when this machine uses its room's own credentials
    control: str  # the stream EncounterStarted/Stopped are added to
    spool: EncounterSpool
    writer: FrameWriter


@dataclass(frozen=True)
class _Helpers:
    """The tasks beside the recording, and how to end them."""

    write_task: asyncio.Task[None]
    recovery: asyncio.Task[int]  # sends what earlier runs left in the spool
    recovery_stop: asyncio.Event
    word: ServerWord  # what the clinic server said about this visit
    watch_stop: asyncio.Event  # outlives the recording: the export folder comes later
    tasks: list[asyncio.Task[Any]]  # cancelled at the end (recovery and watcher included)


def _open_visit(
    settings: CaptureSettings,
    redis: aioredis.Redis,
    view: LiveView,
    signals: StopSignals,
    encounter_id: str | None,
    llm_model: str,
    keyterms: tuple[str, ...],
) -> tuple[_Visit, EncounterStarted]:
    """The visit's id, its start message, its spool on disk and the frame writer."""
    names = StreamNames(settings.stream_prefix)
    room = settings.credentials_room
    if encounter_id is None:
        encounter_id = rooms.new_encounter_id(room) if room else new_encounter_id(settings.room)
    # A room's own credentials may add control only to its room's stream (the notes
    # service's gate forwards it); the shared `capture` user adds to ms:control directly.
    control = rooms.control_stream(names, room) if room else names.control
    # Built before anything is written: settings that cannot start a visit leave no spool.
    started = EncounterStarted(
        encounter_id=encounter_id,
        room=settings.room,
        stt=settings.stt_settings(keyterms),
        llm_model=llm_model,
        clinician=settings.clinician,
    )
    private_dir(settings.spool_dir)  # raw audio: owner-only
    others = spool_usage(settings.spool_dir)
    spool = EncounterSpool.create(
        settings.spool_dir,
        encounter_id,
        {
            "encounter_id": encounter_id,
            "stream_prefix": settings.stream_prefix,
            "control_stream": control,  # where a later run's recovery sends its stop
        },
    )
    writer = FrameWriter(
        redis,
        names.audio(encounter_id),
        spool,
        budget_bytes=settings.spool_budget_bytes,
        other_spool_bytes=others,
        warn_ratio=settings.spool_warn_ratio,
        fsync_frames=settings.spool_fsync_frames,
        recent_frames=settings.recent_frames,
        wait=replica_wait(settings),
        settle_s=settings.replica_settle_s,
    )
    visit = _Visit(
        settings, redis, names, view, signals, encounter_id, room, control, spool, writer
    )
    return visit, started


def replica_wait(settings: CaptureSettings) -> ReplicaWait | None:
    """The replica check of a visit's last write (Redis Cluster only; docs/cluster.md)."""
    return ReplicaWait.for_url(
        settings.redis_url, settings.redis_wait_replicas, settings.redis_wait_timeout_ms
    )


async def _announce(visit: _Visit, started: EncounterStarted, source_description: str) -> None:
    """EncounterStarted to the control stream (or the spool), the log and the view."""
    await visit.writer.add_control(visit.control, encode(started), replay=True)
    log.info(
        "encounter_started",
        encounter_id=visit.encounter_id,
        room=visit.settings.room,
        speech_model=started.stt.speech_model,
        llm_model=started.llm_model,
    )
    visit.view.started(started, source_description, visit.writer.status)


def _start_helpers(visit: _Visit) -> _Helpers:
    """The frame writer, the resend of earlier visits' spools, the watcher of the server's
    word and partials, the view's refresh and (a room's credentials) the live link."""
    write_task = asyncio.create_task(visit.writer.run(), name="frame-writer")
    # Visits an earlier run left in the spool are sent alongside this one.
    recovery_stop = asyncio.Event()
    recovery = asyncio.create_task(
        recover_spools(
            visit.redis,
            visit.settings.spool_dir,
            recovery_stop,
            wait=visit.writer.wait,
            settle_s=visit.writer.settle_s,
        )
    )
    word = ServerWord(on_refused=lambda reason: _refused(visit.view, visit.signals, reason))
    watch_stop = asyncio.Event()
    watcher = asyncio.create_task(
        watch_encounter(
            visit.redis,
            visit.names,
            visit.encounter_id,
            visit.view,
            watch_stop,
            own_copy=visit.room is not None,
            word=word,
        )
    )
    tasks: list[asyncio.Task[Any]] = [
        recovery,
        watcher,
        asyncio.create_task(_refresh(visit.view, visit.writer.status, visit.signals.stop)),
    ]
    if visit.room is not None:  # beside the audio path: no link is all that Redis trouble costs
        link = show_live_link(
            visit.redis, visit.names, visit.room, visit.settings.notes_url, visit.view
        )
        tasks.append(asyncio.create_task(link))
    return _Helpers(write_task, recovery, recovery_stop, word, watch_stop, tasks)


async def _record(visit: _Visit, source: AudioSource) -> tuple[int, str]:
    """Frames from ``source`` to the writer until the input ends, a stop signal, the visit
    length cap, a full spool or a source failure: (frames recorded, stop reason)."""
    settings, writer, view = visit.settings, visit.writer, visit.view
    seq = 0
    reason = "end_of_input"
    max_frames = round(settings.max_visit_s / FRAME_SECONDS)

    async def capture_frames() -> None:
        nonlocal seq, reason
        async for pcm in source.frames():
            try:
                await writer.add_frame(seq, pcm)
            except asyncio.CancelledError:
                # Only a spool sync awaits, after the frame was appended: a stop landing
                # there must still count it, or the stop names one frame fewer than exist.
                seq += 1
                raise
            view.frame(pcm)
            seq += 1
            if seq >= max_frames:
                # A visit left running all night must not become one endless encounter.
                reason = "max_duration"
                log.warning("max_visit_length_reached", encounter_id=visit.encounter_id, frames=seq)
                view.notice(f"recording stopped: the visit reached {settings.max_visit_s} s")
                return

    capture = asyncio.create_task(capture_frames(), name="capture-frames")
    stopper = asyncio.create_task(visit.signals.stop.wait())
    try:
        await asyncio.wait({capture, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not capture.done():
            reason = "stopped"
            source.close()
            capture.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await capture
    except SpoolFull as err:
        reason = "spool_full"
        view.error(f"recording stopped: {err}")
        log.error("spool_full_recording_stopped", encounter_id=visit.encounter_id, frames=seq)
    except Exception as err:
        reason = "source_error"
        log.error("audio_source_failed", encounter_id=visit.encounter_id, error=type(err).__name__)
        view.error(str(err) if getattr(err, "phi_safe", False) else type(err).__name__)
    finally:
        stopper.cancel()
        source.close()
    return seq, reason


async def _deliver(visit: _Visit, helpers: _Helpers, stop_timeout: float) -> bool:
    """Let the writer get what is left into Redis (bounded); True when all of it is in.
    Then, for a room, wait a little for the server's word on where the files went."""
    word, now = helpers.word, visit.signals.now
    # refused: nothing will take this visit; what is not in Redis yet stays on disk now
    wait_s = stop_timeout if word.refused is None else 0.0
    delivered = await visit.writer.close(helpers.write_task, wait_s, abort=now)
    if delivered and word.refused is None and visit.room is not None and not now.is_set():
        # All audio is in: wait a little for the server to say where the files went (the
        # live view's last line). Bounded, and a second Ctrl+C ends it.
        await first_of(word.answered, now, timeout=visit.settings.export_wait_s)
    return delivered


async def _let_earlier_visits_finish(
    visit: _Visit, recovery: asyncio.Task[int], stop_timeout: float
) -> None:
    """Redis answers: give an earlier visit's spool the same grace to finish sending."""
    if recovery.done() or visit.signals.now.is_set():
        return
    visit.view.notice("sending audio of an earlier visit that was kept in the spool ...")
    now = asyncio.create_task(visit.signals.now.wait())
    await asyncio.wait({recovery, now}, timeout=stop_timeout, return_when=asyncio.FIRST_COMPLETED)
    now.cancel()


async def _stop_helpers(visit: _Visit, helpers: _Helpers) -> None:
    helpers.recovery_stop.set()
    visit.signals.stop.set()  # ends the helpers
    for task in helpers.tasks:
        task.cancel()
    for task in helpers.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _put_spool_away(visit: _Visit, word: ServerWord, delivered: bool) -> str | None:
    """A refused visit's audio is kept as a file (returns where); a delivered one's spool
    is removed; otherwise it stays for a later run's recovery to send."""
    if word.refused is not None:
        audio = visit.names.audio(visit.encounter_id)
        return str(await keep_refused(visit.redis, audio, visit.spool, visit.settings.spool_dir))
    if delivered:
        visit.spool.remove()
    else:
        visit.spool.close()
    return None


def _finish(
    visit: _Visit,
    word: ServerWord,
    last: int,
    reason: str,
    delivered: bool,
    kept_in: str | None,
) -> CaptureResult:
    """Log the end of the visit and show its summary; the result of ``run``."""
    log.info(
        "encounter_stopped",
        encounter_id=visit.encounter_id,
        last_frame_seq=last,
        reason=reason,
        ok=delivered,
        spool_bytes=visit.writer.status.spool_bytes,
    )
    result = CaptureResult(
        visit.encounter_id,
        last,
        delivered and word.refused is None,
        reason,
        visit.writer.status,
        refused=word.refused,
        kept_in=kept_in,
        export_dir=word.export_dir,
    )
    visit.view.finished(result_summary(visit.settings, result))
    return result


def _refused(view: LiveView, signals: StopSignals, reason: str) -> None:
    view.error(refusal_text(reason))
    signals.stop.set()


REFUSALS = {
    "refused_cap": "this room already has the most visits open at once that the clinic "
    "server allows (MEDSCRIBE_ROOM_MAX_OPEN); end the other visit, or ask IT",
    "refused_room": "the visit names another room than this machine's room credentials",
    "refused_encounter": "the visit id does not belong to this room's credentials",
}


def refusal_text(reason: str) -> str:
    """One line for the clinician: what the server refused and what to do (no PHI)."""
    if reason == REVOKED:
        return (
            "recording STOPPED: this room's credentials were revoked on the clinic server; "
            "ask IT for new ones"
        )
    why = REFUSALS.get(reason, f"the clinic server refused the visit ({reason})")
    return f"visit NOT started, no note will be written: {why}"


def result_summary(settings: CaptureSettings, result: CaptureResult) -> Summary:
    return Summary(
        encounter_id=result.encounter_id,
        last_frame_seq=result.last_frame_seq,
        delivered=result.delivered,
        stop_reason=result.stop_reason,
        # the console's page of the visit (a browser sign-in), not the JSON API
        note_url=f"{settings.notes_url.rstrip('/')}/encounters/{result.encounter_id}",
        export_hint=f"{settings.export_dir.rstrip('/')}/{result.encounter_id}/",
        spool_dir=str(settings.spool_dir),
        refused=refusal_text(result.refused) if result.refused else "",
        kept_in=result.kept_in or "",
        server_export_dir=result.export_dir or "",
    )


async def _refresh(view: LiveView, status: WriterStatus, stop: asyncio.Event) -> None:
    while not stop.is_set():
        view.tick(status)
        await sleep_or_stop(stop, view.refresh_s)
