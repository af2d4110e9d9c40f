"""The containers' health check command prints why a service is not ready, in one line."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared import healthcheck
from tests.helpers.procs import free_port


@pytest.fixture
def server_url() -> object:
    import threading

    import uvicorn

    state = {"ready": False}

    async def readyz(_request: object) -> JSONResponse:
        if state["ready"]:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not_ready", "reason": "stt_key_rejected"}, 503)

    port = free_port()
    app = Starlette(routes=[Route("/readyz", readyz)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # the deadline is the test timeout
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/readyz", state
    server.should_exit = True
    thread.join(10)


def test_not_ready_prints_the_reason_and_ready_exits_zero(server_url: object) -> None:
    url, state = server_url  # type: ignore[misc]
    done = subprocess.run([sys.executable, "-m", "shared.healthcheck", url],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert done.stdout.strip() == "not ready (503): stt_key_rejected"
    state["ready"] = True
    assert healthcheck.check(url) == (True, "ready")
    assert healthcheck.main([url]) == 0


def test_no_answer_and_bad_usage() -> None:
    ok, line = healthcheck.check(f"http://127.0.0.1:{free_port()}/readyz", timeout_s=2)
    assert not ok
    assert line.startswith("no answer: ")
    assert healthcheck.main([]) == 2
