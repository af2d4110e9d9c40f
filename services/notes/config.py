"""Settings of the notes service (`medscribe notes ...`); the only module here that reads env."""

from __future__ import annotations

import ipaddress
import re
from datetime import tzinfo
from functools import partial
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator

from shared.settings import (
    DEFAULT_LLM_MODELS,
    AssemblyAISettings,
    CommonSettings,
    DatabaseSettings,
    LlmQuotaSettings,
    StaffApiSettings,
    default_consumer,
)

SPEAKER_ROLES = ("clinician", "patient", "other")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def split_entries(text: str) -> tuple[tuple[Network, ...], tuple[str, ...]]:
    """``trusted_proxies``: ``"127.0.0.1, 172.18.0.0/16, tls"`` → (networks, host names);
    ValueError naming a bad entry. A host name (e.g. the TLS front's compose service) is
    trusted at the addresses it resolves to, looked up again by ``api.proxies.keep_resolved``."""
    networks: list[Network] = []
    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            if not _HOST.match(part):
                raise ValueError(f"{part!r} is not an IP address, network or host name") from None
            names.append(part.lower())
    return tuple(networks), tuple(names)


class NotesSettings(
    CommonSettings, AssemblyAISettings, LlmQuotaSettings, DatabaseSettings, StaffApiSettings
):
    """Storage, note writing, exports and the staff API of the notes service."""

    export_dir: Path = Field(
        Path("./medscribe-data/exports"),
        description="Folder for per-encounter transcript, SOAP note and JSON files.",
    )
    timezone: str | None = Field(
        None,
        description="IANA time zone of transcript times and file names (e.g. Europe/Berlin); "
        "empty = the server's local time, as the original guide did.",
    )
    consumer_name: str = Field(
        default_factory=partial(default_consumer, "notes"),
        description="Consumer name in the `notes` group; stable per replica.",
    )
    redis_admin_url: SecretStr | None = Field(
        None,
        description="Redis URL of the admin user, for `medscribe notes room add|list|revoke` "
        "(creating a room's Redis user is an admin's act). Given to the running service, it "
        "enables the console's Rooms page (admin tokens only); without it those endpoints "
        "answer 503 and the service needs no admin rights.",
    )
    room_max_open: int = Field(
        2,
        ge=1,
        le=100,
        description="Visits one room (own credentials) may have started and not stopped; "
        "further starts from that room are refused by the room gate.",
    )
    room_open_max_age_s: float = Field(
        24 * 3600.0,
        gt=0,
        description="A room's started visit stops counting against its cap after this long "
        "(a room machine that died mid-visit must not block the room for good).",
    )
    room_refresh_s: float = Field(
        5.0, gt=0, description="How often the room gate looks for added or revoked rooms."
    )
    grace_period_s: float = Field(
        120.0, gt=0, description="After EncounterTranscribed, how long to wait for missing turns."
    )
    transcription_timeout_s: float = Field(
        1800.0,
        gt=0,
        description="After EncounterStopped, how long to wait for EncounterTranscribed before "
        "writing the note from the turns received (flagged for review).",
    )
    note_retry_initial_s: float = Field(
        2.0, gt=0, description="First delay before retrying a note while the gateway is down."
    )
    note_retry_max_s: float = Field(300.0, gt=0, description="Longest delay between note retries.")
    note_max_attempts: int = Field(
        12,
        ge=1,
        le=100,
        description="Note jobs deferred this often (gateway down) end as needs_review with "
        "the reason; a person regenerates the note later. 401/403/404 end it at once.",
    )
    note_lease_s: float = Field(
        300.0,
        gt=0,
        description="One replica's lease on a note job; a crashed replica's job is retried after.",
    )
    # Visits end in bursts (on the hour): with 4 slots, 50 rooms stopping together waited
    # 12 gateway calls for the last note (issue 12). A note is one request, mostly waiting.
    note_concurrency: int = Field(
        32, ge=1, le=64, description="Notes this replica writes at the same time."
    )
    scheduler_poll_s: float = Field(1.0, gt=0, description="How often the note scheduler looks.")
    retention_transcript_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="Days after signing to keep the transcript (turn text); empty = forever. "
        "The signed note itself is never deleted by policy.",
    )
    retention_exports_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="Days after signing to keep the exported files; empty = forever.",
    )
    retention_audio_days: int | None = Field(
        None,
        ge=1,
        le=36500,
        description="Days after signing to keep the archived audio (MEDSCRIBE_AUDIO_ARCHIVE); "
        "empty = as long as the exported files.",
    )
    retention_interval_s: float = Field(
        3600.0, ge=60, description="How often the retention policy is applied."
    )
    default_llm_model: str = Field(
        DEFAULT_LLM_MODELS[0], description="SOAP model when the encounter did not name one."
    )
    gateway_timeout_s: float = Field(60.0, gt=0, description="Read timeout of one SOAP request.")
    gateway_max_attempts: int = Field(
        3, ge=1, le=10, description="Attempts per request before the note job is deferred."
    )
    soap_max_tokens: int = Field(1200, ge=100, description="max_tokens of the SOAP request.")
    soap_temperature: float = Field(0.2, ge=0.0, le=2.0)
    soap_budget_chars: int = Field(
        60_000,
        ge=2_000,
        description="Largest transcript (characters) sent in one request; longer visits are "
        "summarised in sections and merged.",
    )
    speaker_roles: dict[str, str] = Field(
        default_factory=dict,
        description='Fixed STT speaker label → role, e.g. {"A": "clinician", "B": "patient"}, '
        "for the visit's first STT session (after a reconnect the service labels anew, and "
        "those labels are guessed); empty = guess from the conversation (the clinician can "
        "correct it).",
    )
    console_session_lifetime_s: float = Field(
        12 * 3600.0, gt=0, description="Web console: a session ends this long after sign-in."
    )
    console_idle_timeout_s: float = Field(
        30 * 60.0, gt=0, description="Web console: a session ends after this long unused."
    )
    api_docs: bool = Field(
        False,
        description="Serve the interactive API docs (/docs, /redoc). Off by default: their "
        "pages load scripts from a public CDN (cdn.jsdelivr.net) on the console's origin. "
        "/openapi.json is always served.",
    )
    live_max_per_token: int = Field(
        10,
        ge=1,
        description="Open live streams (SSE) one token or console session may hold; more: 429.",
    )
    live_max_total: int = Field(
        100,
        ge=1,
        description="Open live streams in this notes replica; more: 429. They read Redis "
        "through their own connection pool of this size, never the stream consumer's.",
    )
    signin_max_failures: int = Field(
        10,
        ge=1,
        description="Web console: failed sign-ins from one address before sign-in from it "
        "is refused (429) for the rest of the window.",
    )
    signin_window_s: int = Field(
        900, ge=1, description="Web console: the window of signin_max_failures (seconds)."
    )
    console_secure_cookie: bool | None = Field(
        None,
        description="Web console: mark the session cookie Secure. Empty = yes, unless the "
        "client is on loopback over plain http (127.0.0.1 must keep working); false turns "
        "it off (plain http on a LAN, not recommended).",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses, networks or host names of the TLS reverse "
        "proxy in front of the staff API (e.g. 127.0.0.1, 172.18.0.0/16, or tls: the "
        "compose TLS front, re-resolved every 15 s). Only requests from "
        "these have their X-Forwarded-For / X-Forwarded-Proto believed (audit address, "
        "Secure cookie). Empty: none.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        split_entries(value)  # ValueError naming the bad entry
        return value

    # Redis holds only what is in flight (issue 18): see services.notes.release / trim.
    redis_release_delay_s: float = Field(
        60.0,
        ge=0,
        description="After a visit's note is stored, how long its audio and other Redis keys "
        "stay (a live view may still be closing).",
    )
    failed_audio_max_age_h: float = Field(
        168.0,
        ge=0,
        description="A visit whose transcription failed keeps its audio in Redis for a replay "
        "this many hours after it ended, then the audio is deleted (0 = at once).",
    )
    redis_release_every_s: float = Field(
        10.0, gt=0, description="How often the release job looks for visits to clear."
    )
    audio_archive: Literal["off", "flac"] = Field(
        "off",
        description="flac: before a visit's audio leaves Redis, write it once to its export "
        "folder as encounter_audio.flac (16-bit mono, 0640). off: no audio is kept.",
    )
    stream_trim_every_s: float = Field(
        30.0, gt=0, description="How often the shared streams are trimmed and measured."
    )
    stream_keep_tail: int = Field(
        1000,
        ge=0,
        description="Entries kept on each shared stream after trimming (for debugging), "
        "besides every entry a consumer group has not acknowledged.",
    )
    dead_letter_alert: int = Field(
        10_000,
        ge=1,
        description="Dead-letter entries at which the notes service warns (log, metric, "
        "readiness). Dead letters are never trimmed: an admin replays or drops them.",
    )

    @field_validator("audio_archive", mode="before")
    @classmethod
    def _archive_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, name: str | None) -> str | None:
        if name:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {name!r}") from None
        return name or None

    def tzinfo(self) -> tzinfo | None:
        """The configured zone (None = local time of the server)."""
        return ZoneInfo(self.timezone) if self.timezone else None

    @field_validator("speaker_roles")
    @classmethod
    def _check_roles(cls, roles: dict[str, str]) -> dict[str, str]:
        for label, role in roles.items():
            if role not in SPEAKER_ROLES:
                raise ValueError(
                    f"speaker {label!r}: role must be one of {', '.join(SPEAKER_ROLES)}"
                )
        return roles
