"""The STT simulator's knobs and counters, apart from the server so that a session can
read them without importing the server that owns it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from simulators.stt_realism import ExpiresAtFormat

TOO_MANY = "Unauthorized Connection: Too many concurrent sessions"


@dataclass
class SttSimConfig:
    """Knobs of the simulator; tests may change them on a running `sim.config`."""

    api_keys: tuple[str, ...] = ("sim-key",)
    time_scale: float = 1.0  # every server clock runs this many times faster than wall time
    lookahead_s: float = 30.0  # audio allowed ahead of the scaled clock before 3007
    max_session_s: float = 10800.0  # audio or scaled seconds per session before 3008
    drop_every_s: float | None = None  # abort each session's TCP connection (1006) after N s
    error_after_s: float | None = None  # send Error + close `error_code` after N s
    error_code: int = 3005
    new_sessions_per_min: int | None = None  # per scaled minute; beyond -> rate_limit_code
    rate_limit_code: int = 1008  # 1008 or 3009, both seen in the docs
    rate_limit_text: str = TOO_MANY  # the service rewords its reasons; clients must cope
    begin_delay_s: float = 0.0  # WALL seconds before Begin (to test client Begin timeouts)
    legacy_double_final: bool = False  # Universal-Streaming format_turns: two finals per turn
    max_concurrent_sessions: int | None = None
    seed: int | None = None  # reproducible session ids and tokens (else random)
    # Realistic-server knobs (the real service is less tidy than its schema):
    expires_at_format: ExpiresAtFormat = "int"  # Begin.expires_at shape
    null_fields: bool = False  # nulls for confidences and empty word lists
    extra_messages: bool = False  # Heartbeat/Warning/SpeechStarted between turns
    # With speaker labels: every Nth final first names the wrong speaker, and a
    # SpeakerRevision corrects it after the next final (or just before Termination).
    speaker_revision_every: int | None = None
    # Sessions after the simulator's first label the first two speakers the other way
    # round ("A" is whoever spoke second): the service labels each session anew.
    swap_labels_after_first: bool = False
    unusable_final_every: int | None = None  # every Nth final arrives without text or words
    mishear_drugs: bool = False  # drug names split/respelled by sound (asr_confusions table)
    reply_latency_s: float = 0.0  # scaled s from the audio to its Turn (a drop loses it)
    word_jitter_ms: int = 0  # word edges are estimates: each moved by up to this, overlapping
    termination_delay_s: float = 0.0  # WALL s between the last turn and Termination
    terminate_hangs: bool = False  # on Terminate nothing more comes: no last turn, no Termination

    @classmethod
    def realistic(cls, **kw: Any) -> SttSimConfig:
        """The "realistic server" profile: nulls, extra message types, another
        ``expires_at`` shape, replies that lag the audio, estimated word times and a
        Termination that takes its time. Keyword arguments override any knob."""
        base: dict[str, Any] = {
            "null_fields": True, "extra_messages": True, "expires_at_format": "iso",
            "reply_latency_s": 0.4, "word_jitter_ms": 150, "termination_delay_s": 0.5,
            "speaker_revision_every": 3,
        }  # fmt: skip
        return cls(**{**base, **kw})

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        if not self.api_keys:
            raise ValueError("at least one API key is needed")
        for name in ("unusable_final_every", "speaker_revision_every"):
            n = getattr(self, name)
            if n is not None and n < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.lookahead_s < 0 or self.max_session_s <= 0 or self.begin_delay_s < 0:
            raise ValueError("lookahead_s, max_session_s and begin_delay_s must be positive")
        if self.reply_latency_s < 0 or self.word_jitter_ms < 0 or self.termination_delay_s < 0:
            raise ValueError("reply_latency_s, word_jitter_ms and termination_delay_s must be >= 0")
        for name in ("error_code", "rate_limit_code"):
            if not _valid_close_code(getattr(self, name)):
                raise ValueError(f"{name} must be 1006, 1008-1014 or 3000-4999")


def _valid_close_code(code: int) -> bool:
    return code == 1006 or 1008 <= code <= 1014 or 3000 <= code <= 4999


@dataclass
class SttSimStats:
    sessions_opened: int = 0
    sessions_active: int = 0
    sessions_rejected: int = 0
    closed_by_code: Counter[int] = field(default_factory=Counter)
    audio_seconds: float = 0.0
    finals: int = 0
    partials: int = 0
    tokens_issued: int = 0
    unusable_finals: int = 0  # finals sent without text (unusable_final_every)
    speaker_revisions: int = 0  # finals sent with the wrong speaker, revised later

    @property
    def turns_emitted(self) -> int:
        return self.finals

    def count_turn(self, msg: dict[str, Any]) -> None:
        if msg["end_of_turn"]:
            self.finals += 1
        else:
            self.partials += 1
