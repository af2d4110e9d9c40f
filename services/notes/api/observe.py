"""Request log and Prometheus metrics of the staff API, both PHI-free.

uvicorn's access log is off (it prints query strings, and ``?q=`` searches note text), so
this middleware logs each request itself with the *route template* (``/v1/encounters/
{encounter_id}``), the status and the duration only. Metrics use the same labels. Each
app has its own registry, so several apps (tests) can live in one process.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import get_logger

log = get_logger(__name__)
UNMATCHED = "<unmatched>"


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "medscribe_api_requests",
            "Staff API requests by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "medscribe_api_request_duration_seconds",
            "Staff API request duration (until the response started, for streams).",
            ["method", "route"],
            registry=self.registry,
        )
        self.live_followers = Gauge(
            "medscribe_api_live_followers",
            "Open Server-Sent Event streams.",
            registry=self.registry,
        )
        self.live_refused = Counter(
            "medscribe_api_live_refused",
            "Live streams refused (429): the token's or the replica's limit was reached.",
            registry=self.registry,
        )
        self.summaries = Counter(
            "medscribe_api_after_visit_summaries",
            "After-visit summaries written, by the result of their check (passed, flagged).",
            ["check"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "medscribe_api_auth_failures",
            "Requests refused for a missing or bad credential, by kind "
            "(missing, bearer, session, ticket, signin, signin_link, throttled).",
            ["kind"],
            registry=self.registry,
        )
        self.audit_rows = Counter(
            "medscribe_api_audit_rows",
            "Audit rows written, by action.",
            ["action"],
            registry=self.registry,
        )


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestLogMiddleware:
    """Logs ``api_request`` with method, route template, status and duration_ms."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                self.metrics.duration.labels(scope["method"], route_template(scope)).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = route_template(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            log.info(
                "api_request",
                method=scope["method"],
                path=route,
                status_code=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
