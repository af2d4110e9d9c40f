"""Settings and a database for the staff API (its fixtures: ``tests.kit.api_fixtures``)."""

from __future__ import annotations

from pathlib import Path

from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from shared.contracts import StreamNames


def make_settings(
    database_url: str, redis_url: str, names: StreamNames, export_dir: Path
) -> NotesSettings:
    return NotesSettings(
        database_url=database_url,
        export_dir=export_dir,
        timezone="UTC",
        redis_url=redis_url,
        stream_prefix=names.prefix,
        api_host="127.0.0.1",
        api_port=0,
        # The in-process clients talk plain http from 10.x addresses: an explicit "off"
        # (tests/security checks the default, Secure off loopback).
        console_secure_cookie=False,
    )


async def open_database(url: str) -> Database:
    db = Database(url)
    await db.create_all()
    return db
