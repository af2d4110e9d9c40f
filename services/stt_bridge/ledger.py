"""The bridge's own durable record of transcribed encounters, kept outside Redis.

Redis holds the bridge's working state, and Redis can lose or roll back writes: a restore
from a backup, the last second before a power cut, a recreated volume, or (before
deploy/users.acl gave `default` every permission) a restart that refused to replay
transactions and scripts. An encounter whose Redis state says "active" again would be
streamed to AssemblyAI a second time: billed twice, its turns published twice. So before
the bridge streams an encounter it looks here; one it transcribed before is only settled
again (its EncounterTranscribed re-published, which notes applies idempotently).

One SQLite file (WAL, ``synchronous=FULL``: a row is on disk when ``record`` returns),
shared by the replicas of one host through a volume. Rows are keyed by stream prefix and
encounter id and hold no PHI: the outcome message is ids, counts and durations.
"""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from shared.contracts import EncounterTranscribed
from shared.errors import MedscribeError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transcribed (
    prefix TEXT NOT NULL,
    encounter_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (prefix, encounter_id)
)
"""
_BUSY_TIMEOUT_S = 10.0
_P = ParamSpec("_P")
_T = TypeVar("_T")


class LedgerError(MedscribeError):
    """The ledger file cannot be read or written (path, permissions, disk)."""


def _reason(err: BaseException) -> str:
    """The error's class and code (SQLite's result code, the OS's errno), never the
    driver's message text, which could quote a row."""
    if isinstance(err, sqlite3.Error):
        code = getattr(err, "sqlite_errorname", None)
        return f"{type(err).__name__} {code}" if code else type(err).__name__
    if isinstance(err, OSError) and err.errno is not None:
        name = errno.errorcode.get(err.errno, str(err.errno))
        return f"{type(err).__name__} {name} ({err.strerror})"
    return type(err).__name__


class DoneLedger:
    def __init__(self, path: Path, prefix: str, keep_days: int) -> None:
        self.path = path
        self.prefix = prefix
        self.keep_days = keep_days
        self._opened = False

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # Autocommit, one short connection per call: calls are rare (one per encounter).
        with closing(
            sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        ) as conn:
            conn.execute("PRAGMA synchronous=FULL")
            yield conn

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            cutoff = time.time() - self.keep_days * 86400
            conn.execute("DELETE FROM transcribed WHERE recorded_at < ?", (cutoff,))
        self.path.chmod(0o600)
        self._opened = True

    def _record(self, msg: EncounterTranscribed) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO transcribed VALUES (?, ?, ?, ?)",
                (self.prefix, msg.encounter_id, msg.model_dump_json(), time.time()),
            )

    def _get(self, encounter_id: str) -> EncounterTranscribed | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT outcome FROM transcribed WHERE prefix = ? AND encounter_id = ?",
                (self.prefix, encounter_id),
            ).fetchone()
        return EncounterTranscribed.model_validate_json(row[0]) if row else None

    async def open(self) -> None:
        """Create the file and table, drop rows older than ``keep_days`` (else on first use)."""
        await self._call(lambda: None)

    async def record(self, msg: EncounterTranscribed) -> None:
        await self._call(self._record, msg)

    async def get(self, encounter_id: str) -> EncounterTranscribed | None:
        """The outcome recorded for this encounter, or None if it was never transcribed."""
        return await self._call(self._get, encounter_id)

    async def _call(self, fn: Callable[_P, _T], *args: _P.args, **kw: _P.kwargs) -> _T:
        try:
            if not self._opened:
                await asyncio.to_thread(self._open)
            return await asyncio.to_thread(fn, *args, **kw)
        except (sqlite3.Error, OSError, ValueError) as err:  # ValueError: a corrupt row
            # The message names the file and the error's class and code (no row content).
            raise LedgerError(f"bridge ledger {self.path}: {_reason(err)}") from err
