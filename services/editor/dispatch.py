"""Turn edits to gateway requests: quota, merging, circuit breaker, fallback.

Handlers call :meth:`Dispatcher.edit` and always get an :class:`EditOutcome` back (a
fallback keeping the original text when the gateway cannot help), so a turn is never
dropped. One loop per model waits for quota from the shared Redis limiter *before*
choosing what to send: while it waits, turns pile up, and once a model's queue holds
``merge_threshold`` turns, consecutive turns of one encounter travel in one request and are
split back. A busy clinic therefore spends its per-model quota on bigger requests instead
of falling behind. After ``breaker_failures`` consecutive unavailable requests the circuit
opens: turns are published unedited at once until a probe succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from services.editor.config import EditorSettings
from services.editor.metrics import EditorMetrics
from services.editor.review import review_reply
from services.editor.state import EditOutcome
from services.editor.waiting import QuotaWaitBoard
from shared.aio import cancel_all
from shared.contracts import FinalTurn
from shared.gateway import GatewayClient, GatewayRejected, GatewayUnavailable
from shared.logging import get_logger
from shared.prompts import build_edit_batch_messages, build_edit_messages, parse_edit_batch_reply
from shared.rate_limit import RateLimiter

log = get_logger(__name__)

MAX_BATCH_TOKENS = 4000


@dataclass(eq=False)
class EditJob:
    turn: FinalTurn
    model: str
    keyterms: tuple[str, ...]
    context: tuple[str, ...]
    future: asyncio.Future[EditOutcome]
    enqueued: float = field(default_factory=time.monotonic)
    single_only: bool = False


class Breaker:
    """Consecutive-failure circuit breaker with a single probe after the cool-down."""

    def __init__(self, threshold: int, cooldown_s: float) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.open_until = 0.0
        self.probing = False

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold

    def allow(self) -> bool:
        if self.failures < self.threshold:
            return True
        if time.monotonic() < self.open_until or self.probing:
            return False
        self.probing = True  # half-open: this request is the probe
        return True

    def success(self) -> None:
        self.failures, self.probing = 0, False

    def failure(self) -> None:
        self.failures += 1
        self.probing = False
        if self.failures >= self.threshold:
            self.open_until = time.monotonic() + self.cooldown_s


@dataclass(eq=False)
class Dispatcher:
    gateway: GatewayClient
    limiter: RateLimiter
    settings: EditorSettings
    metrics: EditorMetrics
    waiting: QuotaWaitBoard | None = None
    _queues: dict[str, list[EditJob]] = field(init=False, default_factory=dict)
    _wake: dict[str, asyncio.Event] = field(init=False, default_factory=dict)
    _loops: dict[str, asyncio.Task[None]] = field(init=False, default_factory=dict)
    _calls: set[asyncio.Task[None]] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        s = self.settings
        self.breaker = Breaker(s.breaker_failures, s.breaker_cooldown_s)
        self._inflight = asyncio.Semaphore(s.max_inflight)

    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def edit(
        self,
        turn: FinalTurn,
        model: str,
        keyterms: tuple[str, ...] = (),
        context: tuple[str, ...] = (),
    ) -> EditOutcome:
        if not turn.text.strip():
            return EditOutcome(turn.text, "unchanged", model)  # nothing to edit or pay for
        job = EditJob(turn, model, keyterms, context, asyncio.get_running_loop().create_future())
        self._enqueue(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):
                self._queues[model].remove(job)
            raise

    async def aclose(self) -> None:
        await cancel_all([*self._loops.values(), *self._calls])

    def _enqueue(self, job: EditJob, *, front: bool = False) -> None:
        queue = self._queues.setdefault(job.model, [])
        queue.insert(0, job) if front else queue.append(job)
        if job.model not in self._loops:
            self._wake[job.model] = asyncio.Event()
            self._loops[job.model] = asyncio.create_task(self._model_loop(job.model))
        self._wake[job.model].set()

    @staticmethod
    def _resolve(jobs: Sequence[EditJob], outcome_for: EditOutcome | None, reason: str) -> None:
        for job in jobs:
            if not job.future.done():
                job.future.set_result(
                    outcome_for or EditOutcome(job.turn.text, "fallback", job.model, reason)
                )

    async def _model_loop(self, model: str) -> None:
        queue, wake = self._queues[model], self._wake[model]
        while True:
            queue[:] = [j for j in queue if not j.future.done()]
            if not queue:
                wake.clear()
                await wake.wait()
                continue
            if self.breaker.is_open and not self.breaker.allow():
                self.metrics.circuit_open.set(1)
                self._resolve(list(queue), None, "gateway_circuit_open")
                queue.clear()
                continue
            await self._inflight.acquire()
            try:
                admitted = await self._await_quota(model, queue)
            except BaseException:
                self._inflight.release()
                raise
            if admitted is None:
                self._inflight.release()
                continue
            group = self._take_group(queue)
            task = asyncio.create_task(self._call(admitted, group))
            self._calls.add(task)
            task.add_done_callback(self._call_done)

    def _call_done(self, task: asyncio.Task[None]) -> None:
        self._inflight.release()
        self._calls.discard(task)

    async def _await_quota(self, model: str, queue: list[EditJob]) -> str | None:
        """Wait for quota of ``model`` or of a model the clinic declared equivalent, and
        return the model admitted (None: the queue emptied while waiting). Turns that wait
        past the queue deadline are published unedited; visits with turns waiting are
        marked for the live view."""
        started = time.monotonic()
        while True:
            wait = 1.0
            for candidate in self._candidates(model):
                try:
                    candidate_wait = await self.limiter.try_acquire(candidate)
                except (RedisError, OSError) as err:
                    log.warning("limiter_unavailable", model=candidate, error=type(err).__name__)
                    candidate_wait = 1.0
                if candidate_wait <= 0:
                    self.metrics.limiter_wait.observe(time.monotonic() - started)
                    return candidate if queue else None
                wait = min(wait, candidate_wait)
            now = time.monotonic()
            expired = [j for j in queue if now - j.enqueued > self.settings.queue_deadline_s]
            if expired:
                self._resolve(expired, None, "quota_wait_exceeded")
                queue[:] = [j for j in queue if not j.future.done()]
            if not queue:
                return None
            if self.waiting is not None:
                await self.waiting.mark((j.turn.encounter_id, j.enqueued) for j in queue)
            await asyncio.sleep(wait)

    def _candidates(self, model: str) -> tuple[str, ...]:
        """``model`` first, then the others of its equivalence group (each its own quota)."""
        group = self.settings.equivalent_models
        if model not in group:
            return (model,)
        return (model, *(m for m in group if m != model))

    def _take_group(self, queue: list[EditJob]) -> list[EditJob]:
        first = queue[0]
        quota_bound = self.limiter.limit is not None  # merging only pays under a quota
        if first.single_only or not quota_bound or len(queue) < self.settings.merge_threshold:
            return [queue.pop(0)]
        same = sorted(
            (
                j
                for j in queue
                if j.turn.encounter_id == first.turn.encounter_id and not j.single_only
            ),
            key=lambda j: j.turn.seq,
        )
        group: list[EditJob] = []
        chars = 0
        for job in same:
            if group and (
                len(group) >= self.settings.merge_max_turns
                or chars + len(job.turn.text) > self.settings.merge_max_chars
            ):
                break
            group.append(job)
            chars += len(job.turn.text)
        if first not in group:  # the oldest turn always goes now
            group = [first]
        chars = sum(len(j.turn.text) for j in group)
        if self.settings.merge_across_encounters:
            # the oldest turns of other visits fill the request (each edited and checked
            # against its own original; no visit's context or keyterms go to another's)
            for job in queue:
                if len(group) >= self.settings.merge_max_turns:
                    break
                if job in group or job.single_only:
                    continue
                if chars + len(job.turn.text) > self.settings.merge_max_chars:
                    continue
                group.append(job)
                chars += len(job.turn.text)
        for job in group:
            queue.remove(job)
        return group

    async def _call(self, model: str, group: list[EditJob]) -> None:
        try:
            if len(group) == 1:
                await self._edit_single(model, group[0])
            else:
                await self._edit_merged(model, group)
        except GatewayUnavailable as err:
            self.breaker.failure()
            self.metrics.circuit_open.set(1 if self.breaker.is_open else 0)
            self._resolve(group, None, f"gateway_unavailable:{err.reason}"[:200])
            return
        except GatewayRejected as err:
            self._resolve(group, None, f"gateway_rejected:{err.status}")
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - never lose a turn to an editor bug
            log.exception("edit_request_failed", model=model, turns=len(group))
            self._resolve(group, None, "editor_error")
        else:
            self.breaker.success()
            self.metrics.circuit_open.set(0)

    async def _edit_single(self, model: str, job: EditJob) -> None:
        self.metrics.requests.labels("single").inc()
        messages = build_edit_messages(job.turn.text, context=job.context, keyterms=job.keyterms)
        result = await self.gateway.chat(
            model,
            messages,
            temperature=self.settings.temperature,
            max_tokens=self.settings.max_tokens,
            fallbacks=self.settings.fallback_models,
        )
        review = review_reply(
            job.turn.text,
            result.text,
            finish_reason=result.finish_reason,
            max_ratio=self.settings.max_reply_ratio,
        )
        outcome = EditOutcome(
            review.text, review.status, result.model, review.reason, result.request_id,
            result.latency_s,
        )  # fmt: skip
        self._resolve([job], outcome, "")

    async def _edit_merged(self, model: str, group: list[EditJob]) -> None:
        self.metrics.requests.labels("merged").inc()
        self.metrics.merged_turns.inc(len(group))
        context, keyterms = _shared_prompt_parts(group)
        messages = build_edit_batch_messages(
            [j.turn.text for j in group], context=context, keyterms=keyterms
        )
        result = await self.gateway.chat(
            model,
            messages,
            temperature=self.settings.temperature,
            max_tokens=min(self.settings.max_tokens * len(group), MAX_BATCH_TOKENS),
            fallbacks=self.settings.fallback_models,
        )
        parts = parse_edit_batch_reply(result.text, len(group))
        if parts is None:
            # The reply did not split back cleanly: edit these turns one by one instead.
            log.warning("merged_reply_unsplittable", model=model, turns=len(group))
            for job in reversed(group):
                job.single_only = True
                self._enqueue(job, front=True)
            return
        share = result.latency_s / len(group)
        for job, part in zip(group, parts, strict=True):
            review = review_reply(job.turn.text, part, max_ratio=self.settings.max_reply_ratio)
            outcome = EditOutcome(
                review.text, review.status, result.model, review.reason, result.request_id, share
            )
            self._resolve([job], outcome, "")


def _shared_prompt_parts(group: Sequence[EditJob]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Context and keyterms of a merged request. One visit: its context and all its
    keyterms. Several visits: no context (it is one visit's words) and only the keyterms
    every visit has, so nothing of one patient's visit reaches another's edit."""
    if len({j.turn.encounter_id for j in group}) == 1:
        return group[0].context, tuple(dict.fromkeys(k for j in group for k in j.keyterms))
    common = set(group[0].keyterms).intersection(*(j.keyterms for j in group[1:]))
    return (), tuple(k for k in group[0].keyterms if k in common)
