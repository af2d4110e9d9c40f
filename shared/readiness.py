"""Readiness that means "can do its job": one reason code when a service cannot.

A readiness callback raises :class:`NotReady` with a short code (no secrets, no URLs with
credentials); ``/readyz`` answers 503 with that code. The checks here cost nothing billed:

* :class:`SttKeyProbe` asks AssemblyAI for a temporary streaming token
  (``GET /v3/token?expires_in_seconds=1``, protocol §1.2): a rejected key is a 401 there,
  and no streaming session is opened (sessions are what is billed).
* :class:`RedisPermissionsProbe` queues the service's commands in MULTI and discards
  them (``shared.redis_acl``): an ACL changed under a running service shows here.
* :class:`GatewayKeyWatch` watches the LLM Gateway's answers to the service's own
  requests: the gateway has no free authenticated endpoint (``/v1/models`` needs no key),
  so a rejected key shows from the first request the key is used for, until one succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from shared.contracts import StreamNames
from shared.errors import MedscribeError
from shared.gateway_types import AttemptEvent
from shared.logging import get_logger
from shared.redis_acl import require_permissions

log = get_logger(__name__)

STT_KEY_REJECTED = "stt_key_rejected"
STT_UNREACHABLE = "stt_unreachable"
GATEWAY_KEY_REJECTED = "llm_gateway_key_rejected"
REDIS_PERMISSIONS_MISSING = "redis_permissions_missing"


UNREACHABLE_FIRST_RETRY_S = 2.0


class NotReady(MedscribeError):
    """Not ready, for the one reason ``code`` (a fixed identifier, safe to show)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def token_url(streaming_url: str) -> str:
    """``wss://host/v3/ws?…`` → ``https://host/v3/token`` (``ws`` → ``http``)."""
    parts = urlsplit(streaming_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    path = (path[: -len("/ws")] if path.endswith("/ws") else path) + "/token"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


@dataclass(eq=False, repr=False)  # repr=False: it holds the key
class SttKeyProbe:
    """Whether AssemblyAI accepts the streaming key, asked at most every ``ok_every_s``
    while it does and every ``fail_every_s`` while it does not. When it cannot be asked
    (no answer: starting up, DNS, network), it asks again after 2 s, doubling up to
    ``fail_every_s``: a moment's hiccup at start must not keep the service unready."""

    streaming_url: str
    api_key: str
    _: KW_ONLY
    ok_every_s: float = 300.0
    fail_every_s: float = 15.0
    timeout_s: float = 2.0
    clock: Callable[[], float] = time.monotonic
    probes: int = field(init=False, default=0)
    _reason: str | None = field(init=False, default=None)
    _next_at: float = field(init=False, default=0.0)
    _unreachable_wait_s: float = field(init=False, default=UNREACHABLE_FIRST_RETRY_S)

    def __post_init__(self) -> None:
        self.url = token_url(self.streaming_url)

    async def reason(self) -> str | None:
        """None when the key was accepted, else :data:`STT_KEY_REJECTED` or
        :data:`STT_UNREACHABLE`. A 429 or 5xx says nothing about the key: not a reason."""
        now = self.clock()
        if now < self._next_at:
            return self._reason
        self.probes += 1
        self._reason = await self._ask()
        if self._reason == STT_UNREACHABLE:
            every = min(self._unreachable_wait_s, self.fail_every_s)
            self._unreachable_wait_s = every * 2
        else:
            every = self.ok_every_s if self._reason is None else self.fail_every_s
            self._unreachable_wait_s = UNREACHABLE_FIRST_RETRY_S
        self._next_at = now + every
        return self._reason

    async def require(self) -> None:
        reason = await self.reason()
        if reason is not None:
            raise NotReady(reason)

    async def _ask(self) -> str | None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                resp = await client.get(
                    self.url,
                    params={"expires_in_seconds": 1},
                    headers={"Authorization": self.api_key},
                )
        except httpx.HTTPError as err:
            log.warning("stt_key_probe_no_answer", error=type(err).__name__)
            return STT_UNREACHABLE
        if resp.status_code in (401, 403):
            return STT_KEY_REJECTED
        return None


class GatewayKeyWatch:
    """Rejected from a 401/403 of the gateway until a request succeeds again."""

    def __init__(self) -> None:
        self.rejected = False

    def observe(self, event: AttemptEvent) -> None:
        if event.status in (401, 403):
            self.rejected = True
        elif event.outcome == "ok":
            self.rejected = False

    def chain(
        self, previous: Callable[[AttemptEvent], None] | None
    ) -> Callable[[AttemptEvent], None]:
        """An observer that feeds ``previous`` (e.g. metrics) and this watch."""

        def both(event: AttemptEvent) -> None:
            if previous is not None:
                previous(event)
            self.observe(event)

        return both

    def require(self) -> None:
        if self.rejected:
            raise NotReady(GATEWAY_KEY_REJECTED)


@dataclass(eq=False, repr=False)
class RedisPermissionsProbe:
    """Whether the service's Redis user may still run all the service runs, checked at
    most every ``every_s``; the missing commands are logged (once per change), the
    readiness reason stays one code."""

    redis: Any
    service: str
    names: StreamNames
    url: str
    _: KW_ONLY
    every_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _line: str | None = field(init=False, default=None)
    _next_at: float = field(init=False, default=0.0)

    async def require(self) -> None:
        now = self.clock()
        if now >= self._next_at:
            line = await require_permissions(
                self.redis, self.service, self.names, self.url, timeout_s=1.5
            )
            if line is not None and line != self._line:
                log.error("redis_permissions_missing", detail=line)
            self._line, self._next_at = line, now + self.every_s
        if self._line is not None:
            raise NotReady(REDIS_PERMISSIONS_MISSING)
