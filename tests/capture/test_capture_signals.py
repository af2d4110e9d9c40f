"""Ctrl+C ends the visit; a second Ctrl+C exits at once and still records the stop."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import redis as sync_redis

from services.capture.recovery import recover_spools
from shared.contracts import EncounterStopped, StreamNames, decode_audio, decode_control
from shared.streams import make_redis
from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env
from tests.kit.waiting import eventually_sync


def test_second_ctrl_c_exits_now_and_keeps_the_stop(
    tmp_path: Path,
    redis_url: str,
    names: StreamNames,
    stream_prefix: str,
    make_wav: Callable[..., tuple[Path, bytes]],
) -> None:
    wav, _ = make_wav(seconds=60.0)
    spool_dir = tmp_path / "spool"
    down = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens: everything spools
    agent = subprocess.Popen(
        [*medscribe_cmd(), "capture", "--file", str(wav), "--llm-model", "m"]
        + ["--spool-dir", str(spool_dir), "--redis-url", down],
        env=subprocess_env(MEDSCRIBE_STREAM_PREFIX=stream_prefix),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        eventually_sync(lambda: any(p.stat().st_size > 8000 for p in spool_dir.glob("*/spool.bin")))
        agent.send_signal(signal.SIGINT)
        eventually_sync(lambda: any(spool_dir.glob("*/stopped")))  # the stop is on disk
        agent.send_signal(signal.SIGINT)
        out, _ = agent.communicate(timeout=10)  # at once, not after the 15 s delivery wait
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert agent.returncode == 75
    assert b"safe in the spool" in out

    async def flush() -> int:
        client = make_redis(redis_url)
        try:
            return await recover_spools(client, spool_dir, asyncio.Event())
        finally:
            await client.aclose()

    assert asyncio.run(flush()) == 1
    client = sync_redis.Redis.from_url(redis_url)
    try:
        control = [decode_control(f) for _id, f in client.xrange(names.control)]
        stop = control[-1]
        assert isinstance(stop, EncounterStopped)
        assert client.xlen(names.audio(stop.encounter_id)) == stop.last_frame_seq + 1
    finally:
        client.close()
    assert [type(c).__name__ for c in control] == ["EncounterStarted", "EncounterStopped"]


def test_sigterm_ends_the_visit_cleanly(
    tmp_path: Path,
    redis_url: str,
    names: StreamNames,
    stream_prefix: str,
    make_wav: Callable[..., tuple[Path, bytes]],
) -> None:
    wav, pcm = make_wav(seconds=60.0)
    agent = subprocess.Popen(
        [*medscribe_cmd(), "capture", "--file", str(wav), "--llm-model", "m", "--speed", "4"]
        + ["--spool-dir", str(tmp_path / "spool"), "--redis-url", redis_url],
        env=subprocess_env(MEDSCRIBE_STREAM_PREFIX=stream_prefix),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = sync_redis.Redis.from_url(redis_url)
    try:
        eventually_sync(lambda: client.xlen(names.control) >= 1)
        started = decode_control(client.xrange(names.control)[0][1])
        eventually_sync(lambda: client.xlen(names.audio(started.encounter_id)) >= 20)
        agent.send_signal(signal.SIGTERM)  # what systemd or docker stop sends
        assert agent.wait(30) == 0
        stop = decode_control(client.xrange(names.control)[-1][1])
        frames = [decode_audio(f) for _id, f in client.xrange(names.audio(started.encounter_id))]
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        client.close()
    assert isinstance(stop, EncounterStopped)
    assert stop.last_frame_seq == len(frames) - 1
    assert len(frames) < 1200
    assert b"".join(f.pcm for f in frames) == pcm[: len(frames) * 1600]
    assert list((tmp_path / "spool").iterdir()) == []
