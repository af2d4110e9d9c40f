"""Settings of the STT bridge (env prefix ``MEDSCRIBE_``); the only module here that reads
the environment."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from pydantic import Field, model_validator

from shared.settings import (
    AssemblyAISettings,
    CommonSettings,
    ReplicaWaitSettings,
    default_consumer,
)


class BridgeSettings(CommonSettings, AssemblyAISettings, ReplicaWaitSettings):
    consumer: str = Field(
        default_factory=partial(default_consumer, "bridge"),
        description="Consumer name in the `bridge` group and lease owner prefix.",
    )
    lease_ms: int = Field(
        15_000, ge=500, description="Encounter lease; another replica resumes after it expires."
    )
    scan_every_s: float = Field(
        2.0, gt=0, description="How often to look for encounters whose owner died."
    )
    max_encounters: int = Field(500, ge=1, description="Encounters one replica holds at most.")
    pace_factor: float = Field(
        1.0,
        gt=0,
        description="Audio is sent this many times faster than real time (1.0 in production; "
        "tests match the simulator's time_scale).",
    )
    max_catchup_factor: float = Field(
        2.0, ge=1.0, description="Speed-up (x real time) while draining a backlog."
    )
    max_lead_s: float = Field(
        20.0, ge=1.0, description="Audio seconds a session may run ahead of its wall clock."
    )
    chunk_ms: int = Field(100, ge=50, le=1000, description="Target audio per WebSocket message.")
    redis_batch_ms: int = Field(
        20, ge=0, le=200,
        description="The shared audio XREAD and the partials' pipelined XADD each run at "
        "most this often (one round trip carries every encounter's frames or partials).",
    )  # fmt: skip
    resume_guard_ms: int = Field(
        300, ge=0, le=400,
        description="Resume this far after the last final's last word (at most half the "
        "turn-ending silence): word times are estimates, often off by 100-200 ms.",
    )  # fmt: skip
    connect_timeout_s: float = Field(10.0, gt=0, description="WebSocket handshake timeout.")
    begin_timeout_s: float = Field(10.0, gt=0, description="Wait for `Begin` after connect.")
    terminate_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Wait for `Termination`; doubled for each resend of a last turn that "
        "never came (twice), then it is recorded as a gap.",
    )
    format_wait_s: float = Field(
        2.0, gt=0, description="Universal-Streaming: wait for the formatted final this long."
    )
    backoff_initial_s: float = Field(0.5, gt=0, description="First reconnect delay.")
    backoff_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay.")
    rate_limit_backoff_s: float = Field(
        5.0, gt=0, description="First delay after a new-session rate limit (1008/3009)."
    )
    reconnect_max_in_row: int = Field(
        10, ge=1,
        description="Fail the encounter (audio kept) after this many reconnects in a row "
        "without a new final turn; every session is billed.",
    )  # fmt: skip
    reconnect_max_total: int = Field(
        300, ge=1,
        description="Fail the encounter (audio kept) after this many reconnects in one visit "
        "(session rotations are not counted).",
    )  # fmt: skip
    refused_retries: int = Field(
        5, ge=0,
        description="A 1008 close whose reason names neither the rate limit nor the "
        "account is retried this many times (rate-limit backoff) before the encounter fails.",
    )  # fmt: skip
    session_rotate_before_s: float = Field(
        300.0,
        ge=0,
        description="Rotate to a new session at a turn boundary this long before the "
        "session's expires_at (0 = only on 3008).",
    )
    stop_wait_s: float = Field(
        30.0, gt=0, description="After EncounterStopped, wait this long for missing frames."
    )
    state_ttl_s: int = Field(
        7 * 86400, ge=60, description="Keep a finished encounter's bridge state this long."
    )

    done_ledger: Path = Field(
        Path.home() / ".local" / "state" / "medscribe" / "bridge-done.sqlite3",
        description="The bridge's own record of transcribed encounters (SQLite, outside "
        "Redis): a visit in it is never streamed to STT again, even if Redis lost or rolled "
        "back its state. Keep it on a volume; replicas of one host share it.",
    )
    done_ledger_keep_days: int = Field(
        400, ge=30, description="Drop ledger rows older than this many days."
    )

    @model_validator(mode="after")
    def _check(self) -> BridgeSettings:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        return self
