"""Configuration and statistics of the LLM Gateway simulator (re-exported by llm_server)."""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shared.settings import DEFAULT_LLM_MODELS

SIM_EXTRA_MODELS = ("claude-opus-4-6", "gemini-2.5-flash-lite", "gpt-5-mini")


@dataclass
class LlmSimConfig:
    """Behaviour of the simulator; every field may be changed while it runs."""

    api_keys: tuple[str, ...] = ("sim-key",)
    rpm_per_model: int | None = None  # None = unlimited
    rpm_window_s: float = 60.0  # tests shrink the window to run faster than real time
    latency_s: float = 0.0
    latency_jitter_s: float = 0.0
    latency_dist: Literal["uniform", "exponential"] = "uniform"
    error_rate: float = 0.0  # share of requests answered with error_status
    error_status: int = 503
    timeout_rate: float = 0.0  # share of requests that hang for hang_s
    hang_s: float = 120.0
    malformed_rate: float = 0.0  # share of 200 replies whose body is not JSON
    down: bool = False  # every request 503
    throttle_next: int = 0  # the next N requests get 429 regardless of the window
    fabricate: bool = False  # edit replies add a number and a drug nobody said
    soap_malformed: int = 0  # the first N SOAP replies lack the Plan section
    # Share of SOAP statements given a fabricated fact (changed dose, added drug, wrong
    # side, invented vital sign); each is recorded in stats and in fabrication_log.
    soap_fabricate_share: float = 0.0
    # After-visit summaries add an instruction the signed note does not contain.
    summary_fabricate: bool = False
    soap_paraphrase: bool = False  # SOAP statements restated (abbreviations, digits)
    soap_ignore_schema: bool = False  # answer structured SOAP requests in text, as some models do
    # 400 or 422: refuse any request carrying a json_schema response_format, as the real
    # gateway does for a model without structured outputs (None = accept it).
    reject_response_format: int | None = None
    fabrication_log: Path | None = None
    seed: int | None = None
    models: tuple[str, ...] = DEFAULT_LLM_MODELS + SIM_EXTRA_MODELS


@dataclass
class LlmSimStats:
    """What the simulator saw: (model, status) counts, tasks, accepted request times."""

    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    tasks: Counter[str] = field(default_factory=Counter)
    accepted_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # Bodies of the most recent accepted requests, for tests that check what was sent.
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))
    in_flight: int = 0
    max_in_flight: int = 0
    # Fault mode: {request_id, section, index, kind, text, original} per fabrication.
    fabrications: list[dict[str, Any]] = field(default_factory=list)

    def count(self, *, model: str | None = None, status: int | None = None) -> int:
        return sum(
            n
            for (m, s), n in self.counts.items()
            if (model is None or m == model) and (status is None or s == status)
        )

    def max_in_window(self, model: str, window_s: float) -> int:
        """Most accepted requests of ``model`` within any window of ``window_s`` seconds."""
        times = sorted(self.accepted_at.get(model, []))
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window_s:
                lo += 1
            best = max(best, hi - lo + 1)
        return best
