"""Settings of the room agent (`medscribe capture`).

Sources, in priority order: command-line flags, environment variables (``MEDSCRIBE_*``),
then one config file in dotenv format (``KEY=value`` lines, ``#`` comments), e.g.::

    # /etc/medscribe/capture.env
    MEDSCRIBE_ROOM=exam-3
    MEDSCRIBE_REDIS_URL=rediss://capture:secret@clinic-server:6380/0
    MEDSCRIBE_LLM_MODELS=claude-sonnet-4-6,gemini-2.5-flash
    MEDSCRIBE_SPOOL_DIR=/var/lib/medscribe/spool

The file is ``--config PATH``, else ``$MEDSCRIBE_CONFIG``, else the first of
``~/.config/medscribe/capture.env`` and ``/etc/medscribe/capture.env`` that exists.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from shared import rooms
from shared.contracts import (
    MAX_KEYTERM_CHARS,
    UNIVERSAL_STREAMING_MODELS,
    SttSettings,
    validate_keyterms,
)
from shared.errors import MedscribeError
from shared.llm_models import check_current
from shared.settings import DEFAULT_LLM_MODELS, CommonSettings, ReplicaWaitSettings

DEFAULT_CONFIG_FILES = (
    Path.home() / ".config" / "medscribe" / "capture.env",
    Path("/etc/medscribe/capture.env"),
)


class KeytermError(ValueError, MedscribeError):
    """A keyterms file that breaks the service limits; the message says which and where."""


class CaptureSettings(CommonSettings, ReplicaWaitSettings):
    """Everything the exam-room agent needs; built once by the CLI."""

    room: str = Field("room-1", min_length=1, max_length=100, description="Exam room name.")
    clinician: str | None = Field(None, max_length=100, description="Clinician id (optional).")
    llm_models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_LLM_MODELS),
        description="Models offered in the menu, comma-separated; the first is the default.",
    )
    llm_model_labels: dict[str, str] = Field(
        default_factory=dict,
        description='Menu text per model id, JSON (e.g. {"claude-sonnet-4-6": "Sonnet - '
        'careful"}); ids without one show the built-in name and description.',
    )
    llm_model: str | None = Field(None, description="Use this model; skips the menu.")
    speech_model: str = Field("u3-rt-pro", description="AssemblyAI streaming speech model.")
    domain: str | None = Field("medical-v1", description="medical-v1 = Medical Mode; empty=off.")
    language: str = Field("en")
    min_turn_silence: int = Field(
        800, ge=0, le=10000, description="ms of silence ending a turn (U3 models only)."
    )
    max_turn_silence: int = Field(
        2000, ge=0, le=20000, description="ms forcing a turn end (U3 models only)."
    )
    end_of_turn_confidence_threshold: float = Field(
        0.6,
        gt=0.0,
        le=1.0,
        description="Universal-Streaming / whisper-rt only (they take it instead of the "
        "silence thresholds; 0.6 as in the medical-scribe guide).",
    )
    format_turns: bool = Field(True, description="Universal-Streaming / whisper-rt only.")
    speaker_labels: bool = Field(
        True,
        description="Ask for clinician/patient diarization (never sent to whisper-rt, "
        "which has none).",
    )
    keyterms_file: Path | None = Field(None, description="One keyterm per line (<=100, <=50 ch).")
    max_visit_s: int = Field(
        4 * 3600,
        ge=1,
        le=24 * 3600,
        description="Stop recording after this much audio (a visit left running by mistake).",
    )
    spool_dir: Path = Field(
        Path.home() / ".local" / "share" / "medscribe" / "spool",
        description="Where audio waits while Redis is unreachable (survives restarts).",
    )
    spool_budget_bytes: int = Field(
        2 * 1024**3, ge=1024 * 1024, description="Disk budget of the spool (default 2 GiB)."
    )
    spool_warn_ratio: float = Field(0.8, gt=0.0, le=1.0, description="Warn past this share.")
    spool_fsync_frames: int = Field(20, ge=1, description="fsync the spool every N frames.")
    recent_frames: int = Field(
        1200, ge=0, description="Confirmed frames kept in memory to repair a Redis that lost them."
    )
    replica_settle_s: float = Field(
        3.0,
        ge=0,
        le=60,
        description="On Redis Cluster, when no replica confirmed a visit's last audio within "
        "the WAIT: how long the agent keeps checking that Redis still holds it (a cut-off "
        "primary may have taken it and be replaced) before it reports the visit sent.",
    )
    notes_url: str = Field("http://127.0.0.1:8080", description="Base URL of the notes API.")
    export_dir: str = Field(
        "medscribe-data/exports", description="Where the notes server writes transcript files."
    )
    export_wait_s: float = Field(
        20.0,
        ge=0,
        le=600,
        description="With a room's own credentials: how long the live view waits, once all "
        "audio is sent, for the server to say where it wrote the visit's files (a second "
        "Ctrl+C ends the wait).",
    )

    @field_validator("llm_models", mode="before")
    @classmethod
    def _split_models(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if isinstance(value, list | tuple):
            value = [str(v).strip() for v in value if str(v).strip()]
            if not value:
                raise ValueError("at least one LLM model is needed")
            check_current(value)
        return value

    @field_validator("llm_model")
    @classmethod
    def _current_model(cls, value: str | None) -> str | None:
        if value:
            check_current([value])
        return value

    @field_validator("clinician", "domain", "keyterms_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _room_of_the_credentials(self) -> CaptureSettings:
        # A room's own Redis user (`medscribe notes room add`) names the room: the room
        # setting follows it, and a different one is refused rather than recorded under a
        # name the gate would turn away.
        from shared.redis_acl import url_user

        room = rooms.room_of_user(url_user(self.redis_url))
        if room is None:
            return self
        if "room" not in self.model_fields_set:
            self.room = room
        elif self.room != room:
            raise ValueError(
                f"MEDSCRIBE_ROOM is {self.room!r} but the Redis credentials are room {room!r}'s"
            )
        return self

    @property
    def credentials_room(self) -> str | None:
        """The room whose own Redis user this agent logs in as, or None (a shared user)."""
        from shared.redis_acl import url_user

        return rooms.room_of_user(url_user(self.redis_url))

    @property
    def acl_service(self) -> str:
        """What shared.redis_acl checks this agent's Redis user against."""
        room = self.credentials_room
        return f"room:{room}" if room else "capture"

    def stt_settings(self, keyterms: tuple[str, ...] = ()) -> SttSettings:
        """Streaming parameters of a new encounter for the configured speech model."""
        # The end-of-turn confidence and turn formatting are Universal-Streaming's only.
        universal = self.speech_model in UNIVERSAL_STREAMING_MODELS
        return SttSettings(
            speech_model=self.speech_model,
            domain=self.domain,
            language=self.language,
            keyterms=keyterms,
            min_turn_silence=self.min_turn_silence,
            max_turn_silence=self.max_turn_silence,
            end_of_turn_confidence_threshold=(
                self.end_of_turn_confidence_threshold if universal else None
            ),
            format_turns=self.format_turns if universal else None,
            speaker_labels=self.speaker_labels,
        )


def config_file(explicit: Path | None) -> Path | None:
    """The config file to read: the flag, ``$MEDSCRIBE_CONFIG``, or a default location."""
    if explicit is not None:
        return explicit
    env = os.environ.get("MEDSCRIBE_CONFIG")
    if env:
        return Path(env)
    return next((p for p in DEFAULT_CONFIG_FILES if p.is_file()), None)


def load_settings(config: Path | None = None, **overrides: Any) -> CaptureSettings:
    """Build settings from flags (``overrides``, None = not given), env and the config file.

    Raises FileNotFoundError for a named config file that does not exist and pydantic's
    ValidationError for bad values.
    """
    path = config_file(config)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    given = {k: v for k, v in overrides.items() if v is not None}
    return CaptureSettings(_env_file=path, **given)


def read_keyterms(path: Path) -> tuple[str, ...]:
    """Read a keyterms file: one term per line, ``#`` comments, blank lines ignored.

    Raises :class:`KeytermError` naming the file, line and limit that was broken.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeytermError(f"keyterms file {path} does not exist") from None
    except UnicodeDecodeError:
        raise KeytermError(f"keyterms file {path} is not UTF-8 text") from None
    terms: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        term = " ".join(line.split("#", 1)[0].split())
        if not term:
            continue
        if len(term) > MAX_KEYTERM_CHARS:
            raise KeytermError(
                f"{path}:{lineno}: keyterm has {len(term)} characters;"
                f" the limit is {MAX_KEYTERM_CHARS}"
            )
        terms.append(term)
    try:
        return validate_keyterms(terms)
    except ValueError as err:
        raise KeytermError(f"{path}: {err}") from None
