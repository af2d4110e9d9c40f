"""Settings of the editor service (env prefix ``MEDSCRIBE_``; the only module here that
reads the environment)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import AssemblyAISettings, CommonSettings, LlmQuotaSettings


class EditorSettings(CommonSettings, AssemblyAISettings, LlmQuotaSettings):
    workers: int = Field(2, ge=1, le=64, description="Consumers in this process.")
    consumer: str | None = Field(
        None, description="Consumer name prefix in the group (default: host-pid)."
    )
    group: str = Field("editor", description="Consumer group on the turns stream.")
    # In flight = turns/s x gateway latency: 100 rooms make ~30 turns/s, so at 1-2 s per
    # edit 32 slots queued turns behind each other (issue 12); quota is the limiter's job.
    batch: int = Field(64, ge=1, le=256, description="Turns each worker takes at once.")
    max_inflight: int = Field(128, ge=1, description="Concurrent gateway requests per process.")

    default_model: str = Field(
        "claude-haiku-4-5-20251001",
        description="Model when the encounter's choice is unknown.",
    )
    fallback_models: tuple[str, ...] = Field(
        (), description="Gateway fallbacks, tried in order by the gateway."
    )
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    max_tokens: int = Field(600, ge=16)

    notes_reserve: int = Field(
        2,
        ge=0,
        description=(
            "Requests per window of each model the editor leaves to the notes service's SOAP "
            "calls (at most a quarter of it), so a busy clinic's edits never hold a finished "
            "visit's note back."
        ),
    )
    rate_burst: int = Field(
        3,
        ge=0,
        description=(
            "Requests a model sends back to back; the rest of its quota is spread evenly over "
            "the window, so queued turns merge instead of waiting out a spent window. 0 = off."
        ),
    )
    merge_threshold: int = Field(
        3, ge=2, description="Queued turns of a model from which one encounter's turns merge."
    )
    merge_max_turns: int = Field(8, ge=1, le=50)
    merge_across_encounters: bool = Field(
        False,
        description=(
            "Under a quota, let one request carry turns of different visits (each checked "
            "against its own words, without another visit's context): ~8x more rooms per model."
        ),
    )
    equivalent_models: tuple[str, ...] = Field(
        (),
        description=(
            "Models the clinic accepts as interchangeable for turn edits; a turn whose model "
            "is one of them and has no quota left goes to the next with quota."
        ),
    )
    merge_max_chars: int = Field(6000, ge=200)
    queue_deadline_s: float = Field(
        120.0, gt=0, description="Longest a turn waits for quota before it is published as is."
    )

    gateway_timeout_s: float = Field(30.0, gt=0, description="Per HTTP attempt.")
    gateway_max_attempts: int = Field(4, ge=1, description="Retry budget per request.")
    gateway_deadline_s: float = Field(60.0, gt=0, description="Total budget per request.")
    gateway_backoff_s: float = Field(0.75, gt=0, description="First backoff step.")
    breaker_failures: int = Field(
        5, ge=1, description="Consecutive unavailable requests that open the circuit."
    )
    breaker_cooldown_s: float = Field(15.0, gt=0)

    context_turns: int = Field(2, ge=0, le=10, description="Earlier turns given as context.")
    max_reply_ratio: float = Field(
        1.6, gt=1.0, description="A reply longer than this times the turn is rejected."
    )
    result_ttl_s: int = Field(
        6 * 3600, ge=60, description="Edited text kept for redeliveries (PHI: keep it short)."
    )
    mark_ttl_s: int = Field(
        7 * 86400, ge=60, description="How long a turn is remembered as published (no text)."
    )

    claim_idle_ms: int = Field(
        180_000, ge=100, description="Reclaim turns idle this long from dead workers."
    )
    claim_every_s: float = Field(5.0, gt=0)
    max_deliveries: int = Field(5, ge=1)
    block_ms: int = Field(1000, ge=10)

    def edit_limit(self) -> int | None:
        """The editor's share of each model's quota (None: no limit)."""
        if not self.rpm_per_model:
            return None
        return self.rpm_per_model - min(self.notes_reserve, self.rpm_per_model // 4)

    def claim_too_short(self) -> bool:
        """True when a turn still being edited could look dead and be reclaimed (paid twice)."""
        return self.claim_idle_ms < (self.queue_deadline_s + self.gateway_deadline_s) * 1000
