"""Prometheus metrics of the editor (own registry per service instance) and raw timings
for the benchmark. Labels are codes and model ids only, never content."""

from __future__ import annotations

from collections import deque

from prometheus_client import CollectorRegistry

from shared.gateway import AttemptEvent
from shared.metrics import MetricSet

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)


class EditorMetrics(MetricSet):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.edits = self.counter(
            "medscribe_editor_edits", "Turns published, by edit status.", ["status"]
        )
        self.fallbacks = self.counter(
            "medscribe_editor_fallbacks", "Turns kept as transcribed, by reason.", ["reason"],
        )  # fmt: skip
        self.gateway_latency = self.histogram(
            "medscribe_editor_gateway_latency_seconds", "Gateway HTTP attempt latency.",
            ["model"], buckets=_LATENCY_BUCKETS,
        )  # fmt: skip
        self.gateway_attempts = self.counter(
            "medscribe_editor_gateway_attempts", "Gateway HTTP attempts by outcome and status.",
            ["outcome", "status"],
        )  # fmt: skip
        self.retries = self.counter("medscribe_editor_retries", "Gateway retries.")
        self.limiter_wait = self.histogram(
            "medscribe_editor_limiter_wait_seconds", "Time requests waited for quota.",
            buckets=(0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
        )  # fmt: skip
        self.requests = self.counter(
            "medscribe_editor_requests", "Edit requests sent, single or merged.", ["kind"],
        )  # fmt: skip
        self.merged_turns = self.counter(
            "medscribe_editor_merged_turns", "Turns edited within merged requests."
        )
        self.duplicates = self.counter(
            "medscribe_editor_duplicates_skipped", "Redelivered turns already published.",
        )  # fmt: skip
        self.cache_hits = self.counter(
            "medscribe_editor_cache_hits", "Redelivered turns served from the result cache.",
        )  # fmt: skip
        self.backlog = self.gauge(
            "medscribe_editor_backlog", "Turns waiting: queued here plus pending and unread.",
            ["where"],
        )  # fmt: skip
        self.turn_seconds = self.histogram(
            "medscribe_editor_turn_seconds", "Time from taking a turn to publishing it.",
            buckets=_LATENCY_BUCKETS,
        )  # fmt: skip
        self.circuit_open = self.gauge(
            "medscribe_editor_circuit_open", "1 while the gateway circuit is open."
        )
        # (time in worker, gateway time) per turn, for bench/editor_bench.py.
        self.timings: deque[tuple[float, float]] = deque(maxlen=100_000)

    def observe_attempt(self, event: AttemptEvent) -> None:
        status = str(event.status) if event.status is not None else "none"
        self.gateway_attempts.labels(event.outcome, status).inc()
        self.gateway_latency.labels(event.model).observe(event.latency_s)
        if event.outcome == "retry":
            self.retries.inc()
