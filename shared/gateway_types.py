"""LLM Gateway wire types: results, typed errors, both error envelopes, reply parsing.

Split from ``shared.gateway`` (which re-exports everything here) to keep the client small.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from shared.errors import MedscribeError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 120.0


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class ChatResult:
    text: str
    request_id: str | None
    model: str
    usage: Usage
    latency_s: float  # whole call, retries and waits included
    attempts: int
    finish_reason: str | None = None


@dataclass(frozen=True)
class AttemptEvent:
    """One HTTP attempt, for metrics: ``outcome`` is ok, retry or fail."""

    model: str
    attempt: int
    status: int | None  # None for a transport error or timeout
    reason: str
    outcome: str
    latency_s: float
    request_id: str | None


class GatewayError(MedscribeError):
    """Base of gateway failures; the message holds codes and ids only, never content."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.reason = reason
        self.status = status
        self.request_id = request_id
        self.attempts = attempts
        super().__init__(
            f"gateway {reason} (status {status}, request {request_id}, attempts {attempts})"
        )


class GatewayUnavailable(GatewayError):
    """Retryable failures persisted past the attempt or time budget."""


class GatewayRejected(GatewayError):
    """The gateway refused the request (4xx other than 429): retrying will not help."""


class GatewayAuthError(GatewayRejected):
    """401/403: the key is wrong, or the account has no LLM Gateway access."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def error_request_id(body: Any) -> str | None:
    """The request id of either error envelope (or the ``{"error": {...}}`` spec shape)."""
    if not isinstance(body, dict):
        return None
    rid = body.get("request_id")
    if rid is None and isinstance(body.get("error"), dict):
        rid = body["error"].get("request_id")
    return str(rid) if rid is not None else None


def error_code(body: Any, status: int) -> int:
    """Error code of either envelope: business ``code``, auth ``status``, spec ``error.code``."""
    if isinstance(body, dict):
        for candidate in (
            body.get("code"),
            body.get("status"),
            body["error"].get("code") if isinstance(body.get("error"), dict) else None,
        ):
            if isinstance(candidate, int):
                return candidate
    return status


def _content(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts
        parts = [p.get("text") for p in value if isinstance(p, dict)]
        if all(isinstance(p, str) for p in parts):
            return "".join(p for p in parts if p is not None)
    return None


def parse_completion(body: Any, requested_model: str) -> tuple[str, str, Usage, str | None]:
    """(text, model, usage, finish_reason) of a completion body; ValueError if malformed."""
    if not isinstance(body, dict):
        raise ValueError("body is not an object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("no choices")
    message = choices[0].get("message")
    text = _content(message.get("content")) if isinstance(message, dict) else None
    if text is None:
        raise ValueError("choice has no text content")
    raw_usage: dict[str, Any] = body["usage"] if isinstance(body.get("usage"), dict) else {}
    inp = int(raw_usage.get("input_tokens", raw_usage.get("prompt_tokens", 0)) or 0)
    out = int(raw_usage.get("output_tokens", raw_usage.get("completion_tokens", 0)) or 0)
    usage = Usage(inp, out, int(raw_usage.get("total_tokens", inp + out) or 0))
    model = body["model"] if isinstance(body.get("model"), str) else requested_model
    finish = choices[0].get("finish_reason")
    return text, model, usage, finish if isinstance(finish, str) else None
