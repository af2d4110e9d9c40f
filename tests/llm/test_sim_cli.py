"""`medscribe sim llm` as a real process: serves, then stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time

import httpx

from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env


def test_sim_llm_command_serves_and_stops() -> None:
    port = free_port()
    proc = subprocess.Popen(
        medscribe_cmd() + ["sim", "llm", "--port", str(port), "--key", "k1", "--rpm", "5"],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert models.status_code == 200
        body = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]}
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        assert httpx.post(url, json=body, headers={"Authorization": "k1"}).status_code == 200
        assert httpx.post(url, json=body, headers={"Authorization": "sim-key"}).status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert proc.stdout is not None
        assert f"127.0.0.1:{port}" in proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
