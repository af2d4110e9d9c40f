"""The notes service's release job in a process of its own, for the kill -9 tests
(tests/notes/test_release_kill9.py): one pass over every due visit, as the service runs
it every few seconds, with the FLAC archive on. Its own lines start with ``worker:`` (the
service's log lines go to the same output).

``--pause-at STEP``: on reaching STEP (archived, marks_deleted, keys_deleted) of a visit,
print ``worker: paused STEP ENCOUNTER`` and wait there for the test's SIGKILL. Without it the
worker prints ``worker: releasing`` when it starts and ``worker: released N`` when the pass is done.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from services.notes.config import NotesSettings
from services.notes.db.engine import Database
from services.notes.metrics import NotesMetrics
from services.notes.release import RedisReleaser
from shared.streams import make_redis


async def main(args: argparse.Namespace) -> None:
    settings = NotesSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=args.database_url,
        redis_url=args.redis_url,
        stream_prefix=args.prefix,
        export_dir=Path(args.export_dir),
        redis_release_delay_s=0,
        audio_archive="flac",
    )
    db = Database(args.database_url)
    redis = make_redis(args.redis_url)

    async def pause(step: str, encounter_id: str) -> None:
        if step == args.pause_at:
            print(f"worker: paused {step} {encounter_id}", flush=True)
            await asyncio.Event().wait()  # until killed

    releaser = RedisReleaser(
        settings, db, redis, NotesMetrics(), between_steps=pause if args.pause_at else None
    )
    print("worker: releasing", flush=True)
    released = await releaser.release_due()
    print(f"worker: released {released}", flush=True)
    await redis.aclose()
    await db.dispose()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    for name in ("--database-url", "--redis-url", "--prefix", "--export-dir"):
        ap.add_argument(name, required=True)
    ap.add_argument("--pause-at", default="")
    asyncio.run(main(ap.parse_args()))
