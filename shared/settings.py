"""Settings shared by all services (pydantic-settings, env prefix ``MEDSCRIBE_``).

Each service's ``config.py`` subclasses these; only ``config.py`` modules (and this one)
read the environment. Settings objects are built once in the CLI and passed in.
"""

from __future__ import annotations

import os
import socket
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import MedscribeError
from shared.redis_urls import check_cluster_prefix

DEFAULT_STREAMING_URL = "wss://streaming.assemblyai.com/v3/ws"
EU_STREAMING_URL = "wss://streaming.eu.assemblyai.com/v3/ws"
DEFAULT_GATEWAY_URL = "https://llm-gateway.assemblyai.com"
EU_GATEWAY_URL = "https://llm-gateway.eu.assemblyai.com"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./medscribe-data/medscribe.db"

# Claude and Gemini only: zero data retention under AssemblyAI's BAA (protocol §8).
DEFAULT_LLM_MODELS = (
    "claude-sonnet-4-6",
    "claude-haiku-4-5-20251001",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
)


class MissingSetting(MedscribeError):
    """A required setting is absent; the message names the environment variable."""

    def __init__(self, variable: str, hint: str = "") -> None:
        self.variable = variable
        super().__init__(f"{variable} is not set{': ' + hint if hint else ''}")


class ClusterUnreachable(MedscribeError):
    """No node of the Redis Cluster answered when the client first connected.

    Deliberately not a RedisError: no retry loop swallows it, the command ends with one
    line (medscribe/cli.py), and a supervisor restarts the service with its back-off.
    """


def _env(name: str, *aliases: str) -> AliasChoices:
    return AliasChoices(f"MEDSCRIBE_{name}", *aliases)


REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


def check_url(url: str, schemes: tuple[str, ...]) -> str:
    """``url`` if its scheme is one of ``schemes`` and it names a host (a path for
    ``unix``); else ValueError. Checked at start: a typo must not surface as an encounter
    failing every 30 s. The message names the scheme, never the URL (it may hold a password).
    """
    try:
        parts = urlsplit(url)
        has_host = bool(parts.hostname) if parts.scheme != "unix" else bool(parts.path)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        raise ValueError("is not a URL (a port that is not a number?)") from None
    wanted = " or ".join(f"{s}://" for s in schemes)
    if parts.scheme not in schemes:
        got = f"'{parts.scheme}://'" if parts.scheme else "no scheme"
        raise ValueError(f"must start with {wanted} (it has {got})")
    if not has_host:
        raise ValueError(f"names no host (expected {parts.scheme}://HOST...)")
    return url


class CommonSettings(BaseSettings):
    """What every service needs: Redis, stream names, logging, health/metrics port."""

    model_config = SettingsConfigDict(
        env_prefix="MEDSCRIBE_", extra="ignore", env_file=None, populate_by_name=True
    )

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        validation_alias=_env("REDIS_URL", "REDIS_URL"),
        description=(
            "Redis holding the streams; may carry ACL user and password. "
            "redis+cluster://host:port (any node) for Redis Cluster (docs/cluster.md)."
        ),
    )
    stream_prefix: str = Field(
        "ms:",
        description=(
            "Prefix of every stream and key; on Redis Cluster with a hash tag: ms:{clinic-a}:"
        ),
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="json for log collectors; console on a terminal (auto picks)."
    )
    health_host: str = Field("127.0.0.1", description="Bind address of /healthz and /metrics.")
    health_port: int = Field(0, description="Port of /healthz, /readyz, /metrics; 0 = off.")
    uvloop: bool = Field(
        True,
        description="Run on uvloop (a faster event loop; ignored where it is not installed). "
        "false = asyncio's own loop.",
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url_is_a_url(cls, url: str) -> str:
        return check_url(url, REDIS_SCHEMES)

    @field_validator("stream_prefix")
    @classmethod
    def _prefix_fits_redis(cls, prefix: str, info: ValidationInfo) -> str:
        # Refused at start, not at the first CROSSSLOT error mid-visit (docs/cluster.md).
        why = check_cluster_prefix(str(info.data.get("redis_url", "")), prefix)
        if why:
            raise ValueError(why)
        return prefix


def host_and_pid() -> str:
    """Names this process among replicas on every host (consumer names, lease owners)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def default_consumer(service: str) -> str:
    return f"{service}-{host_and_pid()}"


class DatabaseSettings(BaseSettings):
    """The notes database, for the notes service and the commands that start or check it."""

    model_config = SettingsConfigDict(
        env_prefix="MEDSCRIBE_", extra="ignore", env_file=None, populate_by_name=True
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("MEDSCRIBE_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path.db or postgresql+asyncpg://…",
    )


class StaffApiSettings(BaseSettings):
    """Where the notes service's staff API listens (the service itself, and `up`)."""

    model_config = SettingsConfigDict(env_prefix="MEDSCRIBE_", extra="ignore", env_file=None)

    api_host: str = Field("127.0.0.1", description="Bind address of the staff API.")
    api_port: int = Field(8080, ge=0, le=65535, description="Port of the staff API.")


class ReplicaWaitSettings(BaseSettings):
    """On Redis Cluster: which writes wait for a replica (WAIT; docs/cluster.md), for the
    bridge (final turns, outcomes) and the capture agent (the visit's last write)."""

    model_config = SettingsConfigDict(env_prefix="MEDSCRIBE_", extra="ignore", env_file=None)

    redis_wait_replicas: int = Field(
        1,
        ge=0,
        le=5,
        description="On Redis Cluster: replicas that must hold a final turn, an outcome or "
        "a visit's last audio before the service goes on (WAIT; docs/cluster.md). 0 = off. "
        "Ignored on a single Redis.",
    )
    redis_wait_timeout_ms: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Longest WAIT for those replicas; past it the write counts as "
        "unreplicated (logged) and the service goes on.",
    )


class LlmQuotaSettings(BaseSettings):
    """The LLM Gateway's per-model request quota, one shared limiter in Redis for every
    service that calls the gateway (the editor's turn edits, the notes' SOAP calls)."""

    model_config = SettingsConfigDict(env_prefix="MEDSCRIBE_", extra="ignore", env_file=None)

    rpm_per_model: int = Field(
        30, ge=0, description="Requests per minute per model, all replicas together; 0 = off."
    )
    rate_window_s: float = Field(60.0, gt=0, description="Length of the rate window.")
    rate_margin_s: float = Field(
        0.5, ge=0, description="Safety margin added to the window (clock and transit skew)."
    )


class AssemblyAISettings(BaseSettings):
    """AssemblyAI keys and endpoints; the defaults are the real US endpoints."""

    model_config = SettingsConfigDict(
        env_prefix="MEDSCRIBE_", extra="ignore", env_file=None, populate_by_name=True
    )

    assemblyai_api_key: SecretStr | None = Field(
        None,
        validation_alias=_env("ASSEMBLYAI_API_KEY", "ASSEMBLYAI_API_KEY"),
        description="AssemblyAI API key (streaming and LLM Gateway).",
    )
    streaming_url: str = Field(
        DEFAULT_STREAMING_URL,
        description="Streaming v3 WebSocket URL (EU: wss://streaming.eu.assemblyai.com/v3/ws).",
    )
    llm_gateway_url: str = Field(
        DEFAULT_GATEWAY_URL,
        description="LLM Gateway base URL, or any OpenAI-compatible endpoint.",
    )
    llm_api_key: SecretStr | None = Field(
        None, description="Key for the LLM endpoint when it differs from the AssemblyAI key."
    )

    @field_validator("streaming_url")
    @classmethod
    def _streaming_url_is_a_websocket(cls, url: str) -> str:
        return check_url(url, ("wss", "ws"))

    @field_validator("llm_gateway_url")
    @classmethod
    def _gateway_url_is_http(cls, url: str) -> str:
        return check_url(url, ("https", "http"))

    def require_streaming_key(self) -> SecretStr:
        if self.assemblyai_api_key is None or not self.assemblyai_api_key.get_secret_value():
            raise MissingSetting(
                "ASSEMBLYAI_API_KEY", "set it to your AssemblyAI API key (or run `medscribe demo`)"
            )
        return self.assemblyai_api_key

    def require_llm_key(self) -> SecretStr:
        if self.llm_api_key is not None and self.llm_api_key.get_secret_value():
            return self.llm_api_key
        return self.require_streaming_key()
