"""The note scheduler: finds encounters due for a note and writes each exactly once.

Work is derived from the database (status ``note_pending``, all turns in or grace over,
not leased, retry time reached), so a restarted or second replica picks it up. A job is
taken with a compare-and-set lease; the note and the status change are committed in one
transaction that succeeds only while the lease is still ours, and ``(encounter_id,
version)`` is unique: two replicas never both call the gateway for, or store, one note.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from services.notes import transcript
from services.notes.config import NotesSettings
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.models import Note, utcnow
from services.notes.domain.notes import written_statuses
from services.notes.evidence import note_evidence
from services.notes.exporter import export_encounter
from services.notes.metrics import NotesMetrics
from services.notes.soap import ChatClient, SoapWriter, WrittenNote
from services.notes.soap_format import SECTIONS, render
from services.notes.speakers import resolve_roles
from shared.backoff import exponential
from shared.gateway_types import GatewayError, GatewayRejected
from shared.logging import get_logger
from shared.waiting import first_of

log = get_logger(__name__)

SHUTDOWN_GRACE_S = 3.0  # how long a stop waits for running note jobs before cancelling them

SETTLE_S = 0.2


@dataclass(eq=False)
class NoteScheduler:
    settings: NotesSettings
    db: Database
    client: ChatClient
    metrics: NotesMetrics
    owner: str
    on_exported: Callable[[str, Path], Awaitable[None]] | None = None
    _last_counts: float = field(init=False, default=0.0)
    _jobs: dict[str, asyncio.Task[None]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.tz = self.settings.tzinfo()

    def backoff(self, attempts: int) -> float:
        base = exponential(
            min(attempts, 20), self.settings.note_retry_initial_s, self.settings.note_retry_max_s
        )
        return base * random.uniform(0.8, 1.0)  # jitter: replicas do not retry in lockstep

    async def run(
        self, stop: asyncio.Event, wake: asyncio.Event, due: asyncio.Event | None = None
    ) -> None:
        """Look for due notes every ``scheduler_poll_s``; sooner after ``wake`` (a turn was
        stored: at most every SETTLE_S, a flood of turns sets it continuously), at once
        after ``due`` (an encounter's last expected turn or its turn count arrived)."""
        due = due or asyncio.Event()
        try:
            while not stop.is_set():
                wake.clear()
                due.clear()
                try:
                    await self.start_due()
                    await self._refresh_counts()
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # noqa: BLE001 - DB blips must not end the service
                    log.warning("note_scheduler_failed", error=type(err).__name__, exc_info=True)
                await first_of(stop, due, timeout=min(SETTLE_S, self.settings.scheduler_poll_s))
                if not due.is_set():
                    await first_of(stop, due, wake, timeout=self.settings.scheduler_poll_s)
        finally:
            await self.shutdown()

    async def start_due(self) -> int:
        """Start a job for each due encounter (up to ``note_concurrency`` at a time)."""
        free = self.settings.note_concurrency - len(self._jobs)
        if free <= 0:
            return 0
        async with self.db.session() as s:
            for enc_id in await repo.expire_transcriptions(
                s, utcnow(), self.settings.transcription_timeout_s
            ):
                log.warning("transcription_overdue", encounter_id=enc_id)
        async with self.db.session() as s:
            due = await repo.pending_note_jobs(
                s, utcnow(), self.settings.grace_period_s, limit=free * 2
            )
        started = 0
        for cand in due:
            if cand.encounter_id in self._jobs or len(self._jobs) >= self.settings.note_concurrency:
                continue
            task = asyncio.create_task(self._guarded(cand))
            self._jobs[cand.encounter_id] = task
            task.add_done_callback(functools.partial(self._forget, cand.encounter_id))
            started += 1
        return started

    def _forget(self, encounter_id: str, _task: asyncio.Task[None]) -> None:
        self._jobs.pop(encounter_id, None)

    async def _guarded(self, cand: repo.NoteCandidate) -> None:
        try:
            await self.process(cand)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - the lease runs out and the job is retried
            log.warning(
                "note_job_failed",
                encounter_id=cand.encounter_id,
                error=type(err).__name__,
                exc_info=True,
            )

    async def shutdown(self) -> None:
        """Stop running jobs and hand their leases back, so another replica (or this one
        after a restart) takes them at once instead of after the lease time."""
        jobs = dict(self._jobs)
        if jobs:
            # A job storing or exporting its note finishes (it takes moments); one waiting
            # on the gateway is cancelled. The grace only spares work: a job cancelled inside
            # a database transaction no longer leaves SQLite locked (Database rolls back
            # and releases the connection, even mid-statement; tests/notes/
            # test_cancelled_transaction.py), so nothing depends on it.
            _done, pending = await asyncio.wait(jobs.values(), timeout=SHUTDOWN_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*jobs.values(), return_exceptions=True)
        for enc_id in jobs:
            with contextlib.suppress(Exception):
                async with self.db.session() as s:
                    await repo.release_note_job(s, enc_id, self.owner)
                log.info("note_job_released", encounter_id=enc_id)

    async def run_once(self) -> int:
        """Process every job due now, one after the other; returns notes stored."""
        async with self.db.session() as s:
            due = await repo.pending_note_jobs(s, utcnow(), self.settings.grace_period_s)
        written = 0
        for cand in due:
            written += await self.process(cand)
        return written

    async def _refresh_counts(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._last_counts and now - self._last_counts < 5.0:
            return
        self._last_counts = now
        async with self.db.session() as s:
            self.metrics.set_encounter_counts(await repo.count_by_status(s))

    async def _claim(self, encounter_id: str) -> bool:
        async with self.db.session() as s:
            return await repo.claim_note_job(
                s, encounter_id, self.owner, utcnow(), self.settings.note_lease_s
            )

    async def _renew(self, encounter_id: str) -> None:
        async with self.db.session() as s:
            if not await repo.renew_note_lease(
                s, encounter_id, self.owner, utcnow(), self.settings.note_lease_s
            ):
                raise repo.LeaseLost(encounter_id)

    async def process(self, cand: repo.NoteCandidate) -> int:
        if not await self._claim(cand.encounter_id):
            return 0  # another replica has it
        enc_id = cand.encounter_id
        async with self.db.session() as s:
            enc = await repo.get_encounter(s, enc_id)
            turns = await repo.list_turns(s, enc_id)
            assert enc is not None
            roles = resolve_roles(
                transcript.spoken(turns), enc.speaker_roles, self.settings.speaker_roles
            )
            if roles and roles != (enc.speaker_roles or {}):
                enc.speaker_roles = roles  # stored, so the clinician can correct it
            model = enc.llm_model or self.settings.default_llm_model
            has_prior = await repo.current_note(s, enc_id) is not None
            stopped_at = enc.stopped_at
            unfinished = enc.failure_reason == repo.TRANSCRIPTION_TIMEOUT
        missing = repo.missing_seqs(enc.expected_turns, [t.seq for t in turns])
        # The transcript is complete (or its grace is over): its file must not wait for
        # the note, which may take long or never come (the guide saved it regardless).
        await self.export(enc_id)
        visit = transcript.lines_of(enc, turns, roles, self.tz)
        lines = [line.prompt() for line in visit]
        if not lines:
            empty: dict[str, list[str]] = {k: [] for k in SECTIONS}
            written = WrittenNote(render(empty), empty, "no speech was transcribed", 0)
        else:
            writer = SoapWriter(
                self.client,
                max_tokens=self.settings.soap_max_tokens,
                temperature=self.settings.soap_temperature,
                budget_chars=self.settings.soap_budget_chars,
                on_request=lambda: self._count_and_renew(enc_id),
            )
            try:
                written = await writer.write(
                    model, lines, has_roles=bool(roles), seqs=[line.seq for line in visit]
                )
            except repo.LeaseLost:
                log.warning("note_lease_lost", encounter_id=enc_id)
                return 0
            except GatewayRejected as err:  # 4xx: retrying the same request cannot help
                await self._give_up(enc_id, err, _rejected_reason(err))
                return 0
            except GatewayError as err:  # unavailable: retry later with backoff, capped
                await self._defer(enc_id, err)
                return 0
            except Exception as err:  # noqa: BLE001 - not the gateway's: a bug or a DB blip
                # Logged with its class (the message is redacted) and counted on its own, so
                # a plain bug is not read as a gateway outage; retried, capped like the rest.
                self.metrics.note_errors.labels(error=type(err).__name__).inc()
                log.error(
                    "note_job_error", encounter_id=enc_id, error=type(err).__name__,
                    exc_info=True,
                )  # fmt: skip
                await self._defer(enc_id, err)
                return 0
        if unfinished:
            extra = "the transcription never finished; written from the turns received"
            written.problem = f"{extra}; {written.problem}" if written.problem else extra
        evidence = await note_evidence(written.sections, turns, written.links)
        return await self._store(enc_id, written, missing, model, has_prior, stopped_at, evidence)

    async def _count_and_renew(self, encounter_id: str) -> None:
        self.metrics.soap_requests.inc()
        await self._renew(encounter_id)

    async def _defer(self, encounter_id: str, err: Exception) -> None:
        async with self.db.session() as s:
            enc = await repo.get_encounter(s, encounter_id)
            attempts = enc.note_attempts if enc else 0
        gateway = err if isinstance(err, GatewayError) else None  # the gateway's, or ours
        if attempts + 1 >= self.settings.note_max_attempts:
            if gateway is not None:
                reason = (
                    f"note_not_written: the LLM Gateway failed {attempts + 1} times (last: "
                    f"{type(err).__name__} ({gateway.reason}, HTTP {gateway.status})); the "
                    "transcript is saved; regenerate the note when the gateway is back"
                )
            else:
                reason = (
                    f"note_not_written: an internal error ({type(err).__name__}) stopped it "
                    f"{attempts + 1} times; the transcript is saved; the notes service log "
                    "has the details (note_job_error); regenerate the note once it is fixed"
                )
            await self._give_up(encounter_id, err, reason)
            return
        async with self.db.session() as s:
            delay = self.backoff(attempts)
            await repo.defer_note_job(
                s,
                encounter_id,
                self.owner,
                utcnow() + timedelta(seconds=delay),
                type(err).__name__,
            )
        if gateway is not None:
            self.metrics.gateway_errors.labels(error=type(err).__name__).inc()
        log.warning(
            "note_deferred",
            encounter_id=encounter_id,
            error=type(err).__name__,
            attempt=attempts + 1,
            retry_in_s=round(delay, 1),
        )

    async def _give_up(self, encounter_id: str, err: Exception, reason: str) -> None:
        async with self.db.session() as s:
            ok = await repo.give_up_note_job(
                s, encounter_id, self.owner, reason, type(err).__name__
            )
        if isinstance(err, GatewayError):
            self.metrics.gateway_errors.labels(error=type(err).__name__).inc()
        if not ok:
            log.warning("note_lease_lost", encounter_id=encounter_id)
            return
        self._last_counts = 0.0
        log.error(
            "note_not_written",
            encounter_id=encounter_id,
            error=type(err).__name__,
            status_code=getattr(err, "status", None),
        )
        await self.export(encounter_id)

    async def _store(
        self,
        enc_id: str,
        written: WrittenNote,
        missing: list[int],
        model: str,
        has_prior: bool,
        stopped_at: datetime | None,
        evidence: list[dict[str, Any]] | None = None,
    ) -> int:
        problems = [p for p in (written.problem,) if p]
        if missing:
            problems.append(f"written without {len(missing)} turn(s) that never arrived")
        problem = "; ".join(problems) or None
        status, note_status = written_statuses(problem)
        note: Note | None = None
        for _ in range(3):  # a version number taken meanwhile (a person's edit): next one
            try:
                async with self.db.session() as s:
                    note = await repo.finish_note_job(
                        s,
                        enc_id,
                        self.owner,
                        status=status,
                        missing=missing,
                        kind="regenerated" if has_prior else "generated",
                        note_status=note_status,
                        text=written.text,
                        sections=written.sections,
                        model=model if written.requests else None,
                        problem=problem,
                        evidence=evidence,
                    )
                break
            except repo.VersionConflict:
                continue
            except repo.LeaseLost:
                log.warning("note_lease_lost", encounter_id=enc_id)
                return 0
        if note is None:
            return 0
        self.metrics.notes.labels(status=note.status).inc()
        self._last_counts = 0.0  # refresh the status gauge on the next pass
        if stopped_at is not None:
            self.metrics.stop_to_note.observe(max(0.0, (utcnow() - stopped_at).total_seconds()))
        log.info(
            "note_stored",
            encounter_id=enc_id,
            note_version=note.version,
            status=status,
            missing=len(missing),
            attempts=written.requests,
        )
        await self.export(enc_id)
        return 1

    async def export(self, encounter_id: str) -> None:
        try:
            files = await export_encounter(
                self.db,
                self.settings.export_dir,
                encounter_id,
                self.tz,
                self.settings.speaker_roles,
            )
        except Exception as err:  # noqa: BLE001 - the note is stored; files are a copy
            self.metrics.export_errors.inc()
            log.error("export_failed", encounter_id=encounter_id, error=type(err).__name__)
            return
        if self.on_exported is not None:
            await self.on_exported(encounter_id, files.folder)


def _rejected_reason(err: GatewayRejected) -> str:
    """Operator-facing: what the gateway refused and what to do (codes only, no text)."""
    hint = {
        401: "the LLM Gateway API key was rejected",
        403: "the account has no access to the LLM Gateway or this model",
        404: "the model id is unknown to the LLM Gateway",
        400: "the LLM Gateway refused the request (also as plain text)",
        422: "the LLM Gateway refused the request (also as plain text)",
    }.get(err.status or 0, "the LLM Gateway refused the request")
    return (
        f"note_not_written: {hint} (HTTP {err.status}, {err.reason}); the transcript is "
        "saved; fix the setting and regenerate the note"
    )
