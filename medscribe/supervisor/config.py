"""Settings of `medscribe demo` and `medscribe up` (env prefix ``MEDSCRIBE_``).

The only module of the supervisor that reads the environment: the children it starts get
a copy of it (:func:`inherited_env`) plus the few variables the supervisor sets for them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from shared.settings import (
    AssemblyAISettings,
    CommonSettings,
    DatabaseSettings,
    StaffApiSettings,
)


class SupervisorSettings(CommonSettings, AssemblyAISettings, DatabaseSettings, StaffApiSettings):
    """Where `up` keeps its data, how it restarts crashed services, how `demo` runs."""

    data_dir: Path = Field(
        Path("./medscribe-data"),
        description="`medscribe up`: Redis append-only files, SQLite database, exports, logs.",
    )
    demo_dir: Path = Field(
        Path("./demo-data"), description="`medscribe demo`: its database, exports and logs."
    )
    redis_bind: str = Field(
        "127.0.0.1",
        description="`up` with its own redis-server: interfaces it listens on (room machines "
        "need the server's LAN address; each logs in as its room's user).",
    )
    editor_replicas: int = Field(1, ge=1, le=16, description="`up`: editor processes.")
    restart_initial_s: float = Field(1.0, gt=0, description="First wait before a restart.")
    restart_max_s: float = Field(30.0, gt=0, description="Longest wait between restarts.")
    restart_reset_s: float = Field(
        60.0, gt=0, description="A service running this long has its backoff reset."
    )
    stop_timeout_s: float = Field(
        10.0, gt=0, description="Grace period after SIGTERM before a service is killed."
    )
    demo_time_scale: float = Field(
        8.0, ge=1.0, le=50.0, description="`demo`: how much faster than real time it plays."
    )
    demo_note_timeout_s: float = Field(
        90.0, gt=0, description="`demo`: longest wait for the SOAP note after the visit."
    )
    scribe_note_timeout_s: float = Field(
        600.0, gt=0,
        description="`scribe`: longest wait for the SOAP note after Ctrl+C (the visit is kept "
        "either way; the next start writes its note).",
    )  # fmt: skip
    demo_signin_link_ttl_s: float = Field(
        900.0,
        gt=0,
        le=86_400,
        description="`demo`: how long the printed one-time console sign-in link stays valid.",
    )


def inherited_env() -> dict[str, str]:
    """The supervisor's own environment, handed down to every child it starts."""
    return dict(os.environ)


def redis_url_was_given() -> bool:
    """True when the operator named a Redis (rather than relying on the default URL)."""
    return bool(os.environ.get("MEDSCRIBE_REDIS_URL") or os.environ.get("REDIS_URL"))
