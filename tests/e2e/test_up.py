"""`medscribe up` as a clinic server: its own persistent redis-server, every service under
supervision, a crashed service restarted, a visit recorded by `medscribe capture` from
"another machine" becomes a note, Ctrl+C stops everything. The AssemblyAI endpoints are
the project's simulators (nothing may reach the real service from a test)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from simulators.codec import encode, load_script, write_wav
from simulators.samples import SAMPLE_VISIT
from tests.e2e.test_demo import LineReader, processes_of
from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SCALE = 8


def children_named(marker: str, word: str) -> list[int]:
    found = []
    for pid in processes_of(marker):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if word.encode() in cmd and b"up" not in cmd:
            found.append(pid)
    return found


def test_up_needs_the_assemblyai_key(tmp_path: Path) -> None:
    env = subprocess_env(MEDSCRIBE_DATA_DIR=str(tmp_path / "data"))
    env.pop("ASSEMBLYAI_API_KEY", None)
    env.pop("MEDSCRIBE_ASSEMBLYAI_API_KEY", None)
    done = subprocess.run(
        [*medscribe_cmd(), "up"], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "ASSEMBLYAI_API_KEY is not set" in done.stderr


def test_up_runs_restarts_and_stops_clean(tmp_path: Path) -> None:
    stt_port, llm_port, api_port, redis_port = free_port(), free_port(), free_port(), free_port()
    sims = [
        subprocess.Popen([*medscribe_cmd(), "sim", "stt", "--port", str(stt_port),
                          "--time-scale", str(SCALE)], env=subprocess_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([*medscribe_cmd(), "sim", "llm", "--port", str(llm_port)],
                         env=subprocess_env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    data = tmp_path / "data"
    env = subprocess_env(
        ASSEMBLYAI_API_KEY="sim-key",
        MEDSCRIBE_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        MEDSCRIBE_DATA_DIR=str(data),
        MEDSCRIBE_API_PORT=str(api_port),
        MEDSCRIBE_STREAMING_URL=f"ws://127.0.0.1:{stt_port}/v3/ws",
        MEDSCRIBE_LLM_GATEWAY_URL=f"http://127.0.0.1:{llm_port}",
        MEDSCRIBE_PACE_FACTOR=str(SCALE),
        MEDSCRIBE_RPM_PER_MODEL="0",
        MEDSCRIBE_GRACE_PERIOD_S="15",
        MEDSCRIBE_RESTART_INITIAL_S="0.2",
    )
    for key in ("REDIS_URL", "DATABASE_URL", "MEDSCRIBE_DATABASE_URL", "MEDSCRIBE_LOG_FORMAT"):
        env.pop(key, None)
    up = subprocess.Popen(
        [*medscribe_cmd(), "up"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    marker = f"MEDSCRIBE_DATA_DIR={data}"
    try:
        reader = LineReader(up)
        reader.until(r"staff API http://", 90)
        # A crashed editor comes back.
        (editor,) = children_named(marker, "editor")
        os.kill(editor, signal.SIGKILL)
        reader.until(r"service_crashed.*name=editor", 30)
        reader.until(r"service_started.*attempt=1.*name=editor|name=editor.*attempt=1", 30)

        # Nobody gets in without a user of its own (issue 19): not even PING.
        with socket.create_connection(("127.0.0.1", redis_port), timeout=5) as anonymous:
            anonymous.sendall(b"PING\r\n")
            assert anonymous.recv(100).startswith(b"-NOAUTH")

        # An admin adds the room; its machine records a visit into this server.
        passwords = json.loads((data / "redis" / "passwords.json").read_text())
        admin_url = f"redis://admin:{quote(passwords['admin'], safe='')}@127.0.0.1:{redis_port}/0"
        added = subprocess.run(
            [*medscribe_cmd(), "notes", "room", "add", "exam-1"],
            env=subprocess_env(MEDSCRIBE_REDIS_ADMIN_URL=admin_url),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        room_password = quote(added.stdout.strip(), safe="")
        wav = tmp_path / "visit.wav"
        write_wav(wav, encode(load_script(SAMPLE_VISIT)))
        cap_env = subprocess_env(
            MEDSCRIBE_REDIS_URL=f"redis://room-exam-1:{room_password}@127.0.0.1:{redis_port}/0",
            MEDSCRIBE_SPOOL_DIR=str(tmp_path / "spool"),
            MEDSCRIBE_CONFIG=str(tmp_path / "none.env"),
        )
        (tmp_path / "none.env").write_text("# none\n")
        cap = subprocess.run(
            [*medscribe_cmd(), "capture", "--file", str(wav), "--speed", str(SCALE),
             "--room", "exam-1", "--llm-model", "claude-haiku-4-5-20251001"],
            env=cap_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert cap.returncode == 0, cap.stderr[-2000:]

        exports = data / "exports"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not list(exports.glob("*/clinical_note_soap_*")):
            time.sleep(0.5)
        notes = list(exports.glob("*/clinical_note_soap_*"))
        assert notes, reader.rest(1)[-3000:]
        assert "losartan 50 mg" in notes[0].read_text()
        assert (data / "medscribe.db").exists()
        assert httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=5).status_code == 200

        up.send_signal(signal.SIGINT)
        up.wait(60)
        assert up.returncode == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        for p in sims:
            p.terminate()
            p.wait(20)
    time.sleep(0.5)
    assert processes_of(marker) == []
    assert list((data / "redis").glob("appendonly*")), "Redis ran without its append-only file"
