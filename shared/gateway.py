"""Async client of AssemblyAI's LLM Gateway (any OpenAI-compatible chat endpoint).

    client = GatewayClient(settings.llm_gateway_url, settings.require_llm_key())
    result = await client.chat("claude-sonnet-4-6", messages, temperature=0.2, max_tokens=600)
    await client.aclose()

``POST {base}/v1/chat/completions`` with the raw key in ``Authorization`` (protocol §6).
Retries 429, 500, 502, 503, 504, malformed replies and transport errors with exponential
backoff and jitter, honouring ``Retry-After``, within ``max_attempts`` and a total
``deadline_s``. Raises :class:`GatewayUnavailable` when that budget is spent and
:class:`GatewayRejected` for other 4xx. Logs request ids, statuses and timings; never
message content, and exception messages carry none either (the server's error text is
not copied, as it may echo the input).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from shared.backoff import equal_jitter, exponential
from shared.gateway_types import (
    MAX_RETRY_AFTER_S,
    RETRY_STATUSES,
    AttemptEvent,
    ChatResult,
    GatewayAuthError,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    Usage,
    error_code,
    error_request_id,
    parse_completion,
    parse_retry_after,
)
from shared.logging import get_logger

log = get_logger(__name__)
_POOL = 16  # connections per httpx pool (see GatewayClient)

__all__ = [
    "AttemptEvent",
    "ChatResult",
    "GatewayAuthError",
    "GatewayError",
    "GatewayRejected",
    "GatewayUnavailable",
    "MAX_RETRY_AFTER_S",
    "RETRY_STATUSES",
    "Usage",
    "error_code",
    "error_request_id",
    "parse_completion",
    "parse_retry_after",
    "GatewayClient",
]


class GatewayClient:
    """One pooled HTTP client per process; safe to share between tasks."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        max_attempts: int = 4,
        deadline_s: float = 90.0,
        backoff_base_s: float = 0.75,
        backoff_max_s: float = 20.0,
        max_connections: int = 64,
        observer: Callable[[AttemptEvent], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        admit: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        if max_attempts < 1 or deadline_s <= 0 or timeout <= 0:
            raise ValueError("max_attempts, deadline_s and timeout must be positive")
        self.max_attempts = max_attempts
        self.deadline_s = deadline_s
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.observer = observer
        # Waits for a model's quota before a request (``shared.rate_limit.QuotaGate``);
        # raises GatewayUnavailable when the wait is too long.
        self.admit = admit
        self._rng = random.Random()
        # httpcore's pool looks at every connection on each request event, so one pool of
        # 128 connections cost the editor most of a core at 200 rooms (issue 12): several
        # small pools, each request on the least busy one. A given transport is one pool.
        shards = 1 if transport is not None else max(1, math.ceil(max_connections / _POOL))
        per = math.ceil(max_connections / shards)
        self._pools = [
            httpx.AsyncClient(
                base_url=base_url.rstrip("/"),
                headers={"Authorization": api_key.get_secret_value()},
                timeout=httpx.Timeout(timeout, connect=connect_timeout),
                limits=httpx.Limits(max_connections=per, max_keepalive_connections=per),
                transport=transport,
            )
            for _ in range(shards)
        ]
        self._busy = [0] * shards
        self._http = self._pools[0]

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    async def _post(
        self, path: str, body: dict[str, Any], timeout: httpx.Timeout
    ) -> httpx.Response:
        i = min(range(len(self._pools)), key=self._busy.__getitem__)
        self._busy[i] += 1
        try:
            return await self._pools[i].post(path, json=body, timeout=timeout)
        finally:
            self._busy[i] -= 1

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def list_models(self) -> list[str]:
        """Model ids of ``GET /v1/models`` (raises GatewayError on failure)."""
        try:
            resp = await self._http.get("/v1/models")
        except httpx.HTTPError as err:
            raise GatewayUnavailable(type(err).__name__) from None
        if resp.status_code != 200:
            raise GatewayRejected("models_list_failed", status=resp.status_code)
        try:
            return [str(m["id"]) for m in resp.json()["data"]]
        except (ValueError, KeyError, TypeError):
            raise GatewayUnavailable("malformed_reply", status=200) from None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = exponential(attempt - 1, self.backoff_base_s, self.backoff_max_s)
        # Drawn even when Retry-After wins, so a seeded rng gives the same sequence as before.
        jittered = equal_jitter(ceiling, self._rng)
        if retry_after is not None:
            # At least what the server asked for; a little spread so workers don't stampede.
            return retry_after + self._rng.uniform(0, min(1.0, 0.1 * retry_after + 0.05))
        return jittered

    async def chat(
        self,
        model: str,
        messages: Sequence[dict[str, Any]],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        fallbacks: Sequence[str] = (),
        response_format: dict[str, Any] | None = None,
        deadline_s: float | None = None,
    ) -> ChatResult:
        """One chat completion, retried as the module says: attempt, then wait or give up."""
        if self.admit is not None:
            await self.admit(model)
        body = _chat_body(model, messages, temperature, max_tokens, fallbacks, response_format)
        started = time.monotonic()
        deadline = started + (deadline_s if deadline_s is not None else self.deadline_s)
        last: GatewayError = GatewayUnavailable("deadline_exceeded", attempts=0)
        for attempt in range(1, self.max_attempts + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            outcome = await self._attempt(model, body, attempt, remaining, started)
            if isinstance(outcome, ChatResult):
                return outcome
            last = outcome.error(attempt)
            if not await self._wait_to_retry(model, attempt, outcome, deadline):
                break
        self._log_unavailable(model, last, started)
        raise last

    async def _attempt(
        self, model: str, body: dict[str, Any], attempt: int, remaining: float, started: float
    ) -> ChatResult | _Retryable:
        """One POST: its result, a failure worth retrying, or (raised) a rejection."""
        t0 = time.monotonic()
        timeout = httpx.Timeout(
            min(self.timeout, remaining), connect=min(self.connect_timeout, remaining)
        )
        try:
            resp = await self._post("/v1/chat/completions", body, timeout)
        except httpx.TimeoutException:
            return _Retryable("timeout", t0)
        except httpx.TransportError as err:
            return _Retryable(f"transport_{type(err).__name__}", t0)
        status = resp.status_code
        payload = _json_or_none(resp)
        rid = _request_id(resp, payload)
        if status == 200:
            return self._completed(model, payload, rid, attempt, t0, started)
        if status in RETRY_STATUSES:
            reason = "rate_limited" if status == 429 else "server_error"
            retry_after = parse_retry_after(resp.headers.get("retry-after"))
            return _Retryable(reason, t0, status, rid, retry_after)
        raise self._refused(model, payload, status, rid, attempt, t0)

    def _completed(
        self,
        model: str,
        payload: Any,
        rid: str | None,
        attempt: int,
        t0: float,
        started: float,
    ) -> ChatResult | _Retryable:
        """A 200: the parsed result (observed and logged), or a malformed reply to retry."""
        try:
            text, served, usage, finish = parse_completion(payload, model)
        except (ValueError, TypeError):
            return _Retryable("malformed_reply", t0, 200, rid)
        elapsed = time.monotonic() - t0
        self._observe(model, attempt, 200, "ok", "ok", elapsed, rid)
        log.info(
            "gateway_call",
            model=served,
            request_id=rid,
            status_code=200,
            attempt=attempt,
            latency_ms=round(elapsed * 1000),
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        return ChatResult(text, rid, served, usage, time.monotonic() - started, attempt, finish)

    def _refused(
        self, model: str, payload: Any, status: int, rid: str | None, attempt: int, t0: float
    ) -> GatewayError:
        """A status not worth retrying, as its error (observed and logged): 401/403 the
        key, other 4xx the request, anything else unexpected."""
        code = error_code(payload, status)
        cls: type[GatewayError] = GatewayAuthError if status in (401, 403) else GatewayRejected
        reason = "unauthorized" if cls is GatewayAuthError else f"rejected_{code}"
        if status < 400 or status >= 500:
            cls, reason = GatewayUnavailable, f"unexpected_status_{status}"
        self._observe(model, attempt, status, reason, "fail", time.monotonic() - t0, rid)
        log.warning(
            "gateway_rejected",
            model=model,
            request_id=rid,
            status_code=status,
            code=code,
            attempt=attempt,
        )
        return cls(reason, status=status, request_id=rid, attempts=attempt)

    async def _wait_to_retry(
        self, model: str, attempt: int, failed: _Retryable, deadline: float
    ) -> bool:
        """Sleep the backoff before the next attempt; False (no sleep) when the attempts or
        the deadline would run out first."""
        elapsed = time.monotonic() - failed.t0
        delay = self._backoff(attempt, failed.retry_after)
        if attempt == self.max_attempts or time.monotonic() + delay >= deadline:
            self._observe(
                model, attempt, failed.status, failed.reason, "fail", elapsed, failed.request_id
            )
            return False
        self._observe(
            model, attempt, failed.status, failed.reason, "retry", elapsed, failed.request_id
        )
        _log_failure(
            "gateway_retry",
            model,
            failed,
            attempt=attempt,
            latency_ms=round(elapsed * 1000),
            retry_in_s=round(delay, 3),
        )
        await asyncio.sleep(delay)
        return True

    @staticmethod
    def _log_unavailable(model: str, last: GatewayError, started: float) -> None:
        _log_failure(
            "gateway_unavailable",
            model,
            last,
            attempts=last.attempts,
            duration_ms=round((time.monotonic() - started) * 1000),
        )

    def _observe(
        self,
        model: str,
        attempt: int,
        status: int | None,
        reason: str,
        outcome: str,
        latency_s: float,
        request_id: str | None,
    ) -> None:
        if self.observer is not None:
            self.observer(
                AttemptEvent(model, attempt, status, reason, outcome, latency_s, request_id)
            )


@dataclass(frozen=True)
class _Retryable:
    """One attempt that failed in a way worth retrying: why, and what the server said."""

    reason: str
    t0: float  # when the attempt started (monotonic)
    status: int | None = None  # None for a transport error or timeout
    request_id: str | None = None
    retry_after: float | None = None

    def error(self, attempt: int) -> GatewayUnavailable:
        """What the call raises if this stays the last attempt."""
        return GatewayUnavailable(
            self.reason, status=self.status, request_id=self.request_id, attempts=attempt
        )


def _log_failure(event: str, model: str, failed: _Retryable | GatewayError, **extra: Any) -> None:
    """Warn of a failed attempt or call: codes and ids only, never content."""
    log.warning(
        event,
        model=model,
        request_id=failed.request_id,
        status_code=failed.status,
        reason=failed.reason,
        **extra,
    )


def _chat_body(
    model: str,
    messages: Sequence[dict[str, Any]],
    temperature: float | None,
    max_tokens: int | None,
    fallbacks: Sequence[str],
    response_format: dict[str, Any] | None,
) -> dict[str, Any]:
    """The request body; options left unset are not sent (the gateway's defaults apply)."""
    body: dict[str, Any] = {"model": model, "messages": list(messages)}
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if fallbacks:
        body["fallbacks"] = [{"model": m} for m in fallbacks]
    if response_format is not None:
        body["response_format"] = response_format
    return body


def _json_or_none(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _request_id(resp: httpx.Response, payload: Any) -> str | None:
    """The request id from the header, else from either body envelope."""
    rid = resp.headers.get("x-request-id") or (
        payload.get("request_id") if isinstance(payload, dict) else None
    )
    return str(rid) if rid is not None else error_request_id(payload)
