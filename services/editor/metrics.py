"""Prometheus metrics of the editor (own registry per service instance) and raw timings
for the benchmark. Labels are codes and model ids only, never content."""

from __future__ import annotations

from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.gateway import AttemptEvent

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)


class EditorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.edits = Counter(
            "medscribe_editor_edits", "Turns published, by edit status.", ["status"], registry=r
        )
        self.fallbacks = Counter(
            "medscribe_editor_fallbacks", "Turns kept as transcribed, by reason.", ["reason"],
            registry=r,
        )  # fmt: skip
        self.gateway_latency = Histogram(
            "medscribe_editor_gateway_latency_seconds", "Gateway HTTP attempt latency.",
            ["model"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.gateway_attempts = Counter(
            "medscribe_editor_gateway_attempts", "Gateway HTTP attempts by outcome and status.",
            ["outcome", "status"], registry=r,
        )  # fmt: skip
        self.retries = Counter("medscribe_editor_retries", "Gateway retries.", registry=r)
        self.limiter_wait = Histogram(
            "medscribe_editor_limiter_wait_seconds", "Time requests waited for quota.",
            buckets=(0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120), registry=r,
        )  # fmt: skip
        self.requests = Counter(
            "medscribe_editor_requests", "Edit requests sent, single or merged.", ["kind"],
            registry=r,
        )  # fmt: skip
        self.merged_turns = Counter(
            "medscribe_editor_merged_turns", "Turns edited within merged requests.", registry=r
        )
        self.duplicates = Counter(
            "medscribe_editor_duplicates_skipped", "Redelivered turns already published.",
            registry=r,
        )  # fmt: skip
        self.cache_hits = Counter(
            "medscribe_editor_cache_hits", "Redelivered turns served from the result cache.",
            registry=r,
        )  # fmt: skip
        self.backlog = Gauge(
            "medscribe_editor_backlog", "Turns waiting: queued here plus pending and unread.",
            ["where"], registry=r,
        )  # fmt: skip
        self.turn_seconds = Histogram(
            "medscribe_editor_turn_seconds", "Time from taking a turn to publishing it.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.circuit_open = Gauge(
            "medscribe_editor_circuit_open", "1 while the gateway circuit is open.", registry=r
        )
        # (time in worker, gateway time) per turn, for bench/editor_bench.py.
        self.timings: deque[tuple[float, float]] = deque(maxlen=100_000)

    def observe_attempt(self, event: AttemptEvent) -> None:
        status = str(event.status) if event.status is not None else "none"
        self.gateway_attempts.labels(event.outcome, status).inc()
        self.gateway_latency.labels(event.model).observe(event.latency_s)
        if event.outcome == "retry":
            self.retries.inc()
