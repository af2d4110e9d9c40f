"""The agent is SIGKILLed mid-visit; the next start flushes its spool and closes the visit."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as sync_redis

from shared.contracts import (
    EncounterStarted,
    EncounterStopped,
    StreamNames,
    decode_audio,
    decode_control,
)
from tests.helpers.procs import RedisServer, medscribe_cmd, redis_server_binary, subprocess_env
from tests.kit.waiting import eventually_sync

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="needs redis-server")


def _spool_bytes(spool_dir: Path) -> int:
    return sum(p.stat().st_size for p in spool_dir.glob("*/spool.bin"))


@pytest.mark.parametrize("while_spooling", [True, False], ids=["spooling", "online"])
def test_killed_agent_is_finished_by_the_next_start(
    tmp_path: Path,
    names: StreamNames,
    stream_prefix: str,
    make_wav: Callable[..., tuple[Path, bytes]],
    while_spooling: bool,
) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    client = sync_redis.Redis.from_url(server.url)
    spool_dir = tmp_path / "spool"
    env = subprocess_env(MEDSCRIBE_STREAM_PREFIX=stream_prefix, MEDSCRIBE_LOG_LEVEL="WARNING")
    common = ["--spool-dir", str(spool_dir), "--redis-url", server.url]
    path, pcm = make_wav(seconds=120.0)
    out = (tmp_path / "agent.out").open("wb")
    agent = subprocess.Popen(
        [*medscribe_cmd(), "capture", "--file", str(path), "--speed", "10", "--llm-model", "m"]
        + common,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        eventually_sync(lambda: client.xlen(names.control) >= 1)
        started = decode_control(client.xrange(names.control)[0][1])
        assert isinstance(started, EncounterStarted)
        audio = names.audio(started.encounter_id)
        eventually_sync(lambda: client.xlen(audio) >= 40)
        if while_spooling:
            server.stop()
            eventually_sync(lambda: _spool_bytes(spool_dir) > 60 * 1600)
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        out.close()
    if while_spooling:
        server.start()
    try:
        assert (spool_dir / started.encounter_id).is_dir()  # left behind by the kill
        flush = subprocess.run(
            [*medscribe_cmd(), "capture", "--flush-only", *common],
            env=env,
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert flush.returncode == 0, flush.stdout + flush.stderr
        assert b"1 encounter(s) sent; 0 left" in flush.stdout

        frames = [decode_audio(f) for _id, f in client.xrange(audio)]
        seqs = [f.seq for f in frames]
        assert seqs == list(range(len(seqs)))  # in order, no gap, none twice
        assert len(seqs) >= (100 if while_spooling else 40)
        assert b"".join(f.pcm for f in frames) == pcm[: len(frames) * 1600]
        control = [decode_control(f) for _id, f in client.xrange(names.control)]
        stops = [c for c in control if isinstance(c, EncounterStopped)]
        assert len(stops) == 1
        assert stops[0].last_frame_seq == seqs[-1]
        assert list(spool_dir.iterdir()) == []

        # A further start finds nothing left to do.
        again = subprocess.run(
            [*medscribe_cmd(), "capture", "--flush-only", *common],
            env=env,
            capture_output=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert again.returncode == 0
        assert client.xlen(names.control) == len(control)
    finally:
        client.close()
        server.stop()
