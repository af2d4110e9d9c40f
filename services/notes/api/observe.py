"""Request log and Prometheus metrics of the staff API, both PHI-free.

uvicorn's access log is off (it prints query strings, and ``?q=`` searches note text), so
this middleware logs each request itself with the *route template* (``/v1/encounters/
{encounter_id}``), the status and the duration only. Metrics use the same labels. Each
app has its own registry, so several apps (tests) can live in one process.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.notes.api.asgi import HttpMiddleware
from shared.logging import get_logger
from shared.metrics import MetricSet

log = get_logger(__name__)
UNMATCHED = "<unmatched>"


class ApiMetrics(MetricSet):
    def __init__(self) -> None:
        super().__init__()
        self.requests = self.counter(
            "medscribe_api_requests",
            "Staff API requests by route template, method and status.",
            ["method", "route", "status"],
        )
        self.duration = self.histogram(
            "medscribe_api_request_duration_seconds",
            "Staff API request duration (until the response started, for streams).",
            ["method", "route"],
        )
        self.live_followers = self.gauge(
            "medscribe_api_live_followers", "Open Server-Sent Event streams."
        )
        self.live_refused = self.counter(
            "medscribe_api_live_refused",
            "Live streams refused (429): the token's or the replica's limit was reached.",
        )
        self.summaries = self.counter(
            "medscribe_api_after_visit_summaries",
            "After-visit summaries written, by the result of their check (passed, flagged).",
            ["check"],
        )
        self.auth_failures = self.counter(
            "medscribe_api_auth_failures",
            "Requests refused for a missing or bad credential, by kind "
            "(missing, bearer, session, ticket, signin, signin_link, throttled).",
            ["kind"],
        )
        self.audit_rows = self.counter(
            "medscribe_api_audit_rows", "Audit rows written, by action.", ["action"]
        )


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestLogMiddleware(HttpMiddleware):
    """Logs ``api_request`` with method, route template, status and duration_ms."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
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
