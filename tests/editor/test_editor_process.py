"""`medscribe editor` as a real process: kill -9 mid-call, reclaim, graceful stop, bad config."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from shared.contracts import StreamNames
from simulators.llm_server import LlmSimConfig, start_llm_simulator
from tests.editor.support import make_turn, publish_turns, wait_for_edited
from tests.helpers.procs import medscribe_cmd, subprocess_env

pytestmark = pytest.mark.timeout(120)


def start_editor(
    redis_url: str, names: StreamNames, gateway_url: str, consumer: str, log: Path
) -> subprocess.Popen[bytes]:
    args = [
        "editor", "--workers", "1", "--consumer", consumer, "--claim-idle-ms", "1500",
        "--gateway-url", gateway_url, "--redis-url", redis_url,
        "--stream-prefix", names.prefix, "--rpm", "0",
    ]  # fmt: skip
    env = subprocess_env(
        MEDSCRIBE_ASSEMBLYAI_API_KEY="sim-key",
        MEDSCRIBE_CLAIM_EVERY_S="0.3",
        MEDSCRIBE_BLOCK_MS="100",
        MEDSCRIBE_LOG_FORMAT="json",
    )
    with log.open("wb") as out:
        return subprocess.Popen(medscribe_cmd() + args, env=env, stdout=out, stderr=out)


async def test_worker_killed_mid_call_is_reclaimed_by_another(
    redis_url: str, redis: aioredis.Redis, names: StreamNames, tmp_path: Path
) -> None:
    async with await start_llm_simulator(LlmSimConfig(latency_s=60.0)) as sim:
        first = start_editor(redis_url, names, sim.base_url, "doomed", tmp_path / "a.log")
        second: subprocess.Popen[bytes] | None = None
        try:
            turns = [make_turn("enc-k", s) for s in range(5)]
            await publish_turns(redis, names, turns)
            deadline = time.monotonic() + 60
            while sim.stats.in_flight < len(turns):  # every turn is mid-call in the doomed one
                assert time.monotonic() < deadline, (tmp_path / "a.log").read_text()[-2000:]
                assert first.poll() is None, (tmp_path / "a.log").read_text()[-2000:]
                await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            assert await redis.xlen(names.edited) == 0
            sim.config.latency_s = 0.0

            second = start_editor(redis_url, names, sim.base_url, "heir", tmp_path / "b.log")
            out = await wait_for_edited(redis, names, 5, timeout=60)
            assert Counter((t.encounter_id, t.seq) for t in out) == Counter(
                (t.encounter_id, t.seq) for t in turns
            )
            assert {t.edit_status for t in out} == {"edited", "unchanged"}  # no fallback
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0  # graceful stop
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
    events = [
        json.loads(line)
        for line in (tmp_path / "b.log").read_text().splitlines()
        if line.startswith("{")
    ]
    reclaimed = [e for e in events if e["event"] == "turn_edited" and e["deliveries"] >= 2]
    assert len(reclaimed) == 5  # the heir took them over from the killed consumer
    # The meaning checks' pipeline was built at start, once (not by the first turn's flags).
    ready = [e for e in events if e["event"] == "meaning_checks_ready"]
    assert len(ready) == 1, ready
    assert ready[0]["cpu_ms"] >= 0


def test_missing_key_and_bad_settings_fail_with_one_clear_line() -> None:
    env = {
        k: v
        for k, v in subprocess_env().items()
        if k not in ("ASSEMBLYAI_API_KEY", "MEDSCRIBE_ASSEMBLYAI_API_KEY", "MEDSCRIBE_LLM_API_KEY")
    }
    missing = subprocess.run(
        medscribe_cmd() + ["editor"], env=env, capture_output=True, timeout=60, check=False
    )
    assert missing.returncode == 2
    assert b"ASSEMBLYAI_API_KEY is not set" in missing.stderr
    assert b"Traceback" not in missing.stderr
    bad_env: dict[str, Any] = {**env, "MEDSCRIBE_ASSEMBLYAI_API_KEY": "k"}
    bad = subprocess.run(
        medscribe_cmd() + ["editor", "--workers", "0"],
        env=bad_env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert b"invalid setting WORKERS" in bad.stderr
