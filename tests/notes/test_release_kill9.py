"""A real kill -9 of the process releasing a visit from Redis (issue 18): at each step of
the release, and at random moments over a batch of visits. Whatever the moment, no frame
of a visit that still needs its audio is lost, a visit marked released has nothing left in
Redis and a complete archive, an archive that exists is complete, and the next pass (a
restarted process) finishes the job without writing the archive again.

The releasing process is tests/notes/release_worker.py (the notes service's release job
with the FLAC archive on) against the same Redis and database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis
import soundfile

from services.notes.audio_archive import archive_path
from services.notes.db.engine import Database
from shared.contracts import StreamNames
from shared.release import owned_key_pattern
from tests.helpers.procs import REPO_ROOT, subprocess_env
from tests.notes.test_notes_release import keys_of, released_at, seed_keys, visit

LINE_TIMEOUT_S = 180.0  # only bounds a hang: a loaded machine starts Python slowly


async def start_worker(
    db: Database, redis_url: str, names: StreamNames, export: Path, pause_at: str = ""
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.notes.release_worker",
        "--database-url",
        db.url,
        "--redis-url",
        redis_url,
        "--prefix",
        names.prefix,
        "--export-dir",
        str(export),
        "--pause-at",
        pause_at,
        cwd=REPO_ROOT,
        env=subprocess_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


MARK = "worker: "


async def read_line(proc: asyncio.subprocess.Process) -> str:
    """The worker's next own line (log lines share its output)."""
    assert proc.stdout is not None
    async with asyncio.timeout(LINE_TIMEOUT_S):
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                return ""
            line = raw.decode().strip()
            if line.startswith(MARK):
                return line[len(MARK) :]


async def kill9(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()


async def finish(proc: asyncio.subprocess.Process) -> list[str]:
    """The worker's own lines until it exits (successfully)."""
    async with asyncio.timeout(LINE_TIMEOUT_S):
        out, _ = await proc.communicate()
    assert proc.returncode == 0
    lines = (line.strip() for line in out.decode().splitlines())
    return [line[len(MARK) :] for line in lines if line.startswith(MARK)]


def archive_is_complete(export: Path, eid: str) -> bool:
    """The archive decodes to exactly what seed_keys sent: 20 frames of 800 samples."""
    data, rate = soundfile.read(archive_path(export, eid), dtype="int16")
    return rate == 16000 and data.shape == (16000,) and bool(np.all(data == 0x0100))


def leftovers(export: Path) -> list[str]:
    return [p.name for p in export.rglob(".*.tmp")] if export.exists() else []


async def test_kill9_at_each_release_step_in_turn_then_a_restart_finishes(
    db: Database,
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    tmp_path: Path,
) -> None:
    """Three processes killed in a row, each at the next step of the same visit's release
    (the visit stays due, so each new process starts it again), then a fourth finishes."""
    export = tmp_path / "exports"
    await visit(db, "done", transcribed=True, note=True)
    await visit(db, "needed")  # stopped, not yet transcribed: every frame is still needed
    for eid in ("done", "needed"):
        await seed_keys(redis, names, eid)
    done_before = await keys_of(redis, names, "done")
    needed_before = await keys_of(redis, names, "needed")
    marks = owned_key_pattern(names, "done")
    left_after = {
        "archived": done_before,
        "marks_deleted": {k for k in done_before if not marks.match(k)},
        "keys_deleted": set(),
    }
    archived = b""
    for step, expected_left in left_after.items():
        proc = await start_worker(db, redis_url, names, export, pause_at=step)
        assert await read_line(proc) == "releasing"
        assert await read_line(proc) == f"paused {step} done"
        await kill9(proc)
        assert proc.returncode == -signal.SIGKILL
        # Where it died: not marked released (still due); the archive came first.
        assert await released_at(db, "done") is None, step
        assert archive_is_complete(export, "done"), step
        assert await keys_of(redis, names, "done") == expected_left, step
        if step != "keys_deleted":
            assert await redis.xlen(names.audio("done")) == 20, step
        assert await keys_of(redis, names, "needed") == needed_before, step
        archived = archived or archive_path(export, "done").read_bytes()
        assert archive_path(export, "done").read_bytes() == archived, step  # written once

    restarted = await start_worker(db, redis_url, names, export)
    assert await finish(restarted) == ["releasing", "released 1"]
    assert await keys_of(redis, names, "done") == set()
    assert await released_at(db, "done") is not None
    assert archive_path(export, "done").read_bytes() == archived
    assert await keys_of(redis, names, "needed") == needed_before
    assert not archive_path(export, "needed").exists()
    assert leftovers(export) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the step test covers both
async def test_random_kill9_during_release_never_loses_a_needed_frame(
    db: Database,
    redis: aioredis.Redis,
    redis_url: str,
    names: StreamNames,
    tmp_path: Path,
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    export = tmp_path / "exports"
    done = [f"done-{i:02d}" for i in range(10)]
    needed = ["needed-1", "needed-2"]
    for eid in done:
        await visit(db, eid, transcribed=True, note=True)
    for eid in needed:
        await visit(db, eid)
    for eid in done + needed:
        await seed_keys(redis, names, eid)
    needed_before = {eid: await keys_of(redis, names, eid) for eid in needed}

    async def check() -> int:
        """The invariants wherever the kill landed; returns how many are released."""
        released = 0
        for eid in done:
            if archive_path(export, eid).exists():
                assert archive_is_complete(export, eid), (seed, eid)
            if await released_at(db, eid) is not None:
                released += 1
                assert await keys_of(redis, names, eid) == set(), (seed, eid)
                assert archive_path(export, eid).exists(), (seed, eid)
        for eid in needed:
            assert await keys_of(redis, names, eid) == needed_before[eid], (seed, eid)
            assert not archive_path(export, eid).exists(), (seed, eid)
        return released

    kills = 0
    for _ in range(4):
        proc = await start_worker(db, redis_url, names, export)
        assert await read_line(proc) == "releasing"
        # Not a synchronisation: where the kill lands is meant to be anywhere.
        await asyncio.sleep(rng.uniform(0.0, 0.4))
        if proc.returncode is None:
            kills += 1
        await kill9(proc)
        await check()

    last = await start_worker(db, redis_url, names, export)
    out = await finish(last)
    assert out[0] == "releasing", seed
    assert await check() == len(done), (seed, kills)
    for eid in done:
        assert await keys_of(redis, names, eid) == set(), seed
    assert leftovers(export) == [], seed
