"""The docker compose deployment, run for real: stand-in base images, podman behind
docker-compose, the `demo` profile (simulators + a capture container playing the sample
visit). A note must come out through the staff API, and Redis's ACLs must hold from
inside (the capture user cannot read ms:turns). Everything is torn down afterwards.

Needs root, podman, docker-compose and debootstrap (../shared/design/containers.md);
skips with the reason otherwise. Marked `stack`: `pytest -m stack tests/stack`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.procs import free_port
from tests.stack import standins
from tests.stack.compose_run import Compose, HealthPump, PodmanService

# Cold (debootstrap + every image built): about 4 min here; cached: about 1 min.
pytestmark = [pytest.mark.stack, pytest.mark.timeout(720)]

NOTE_TIMEOUT_S = 240
APP_SERVICES = ("stt-bridge", "editor", "notes", "sim-stt", "sim-llm")


def _preconditions() -> None:
    missing = [t for t in ("podman", "docker-compose") if shutil.which(t) is None]
    if missing:
        need = "apt-get install podman docker-compose debootstrap"
        pytest.skip(f"{', '.join(missing)} not installed ({need})")
    if os.geteuid() != 0:
        pytest.skip("the stack test runs rootful podman: run it as root")
    try:
        standins.ensure_podman_config()
    except (OSError, RuntimeError) as err:
        pytest.skip(f"podman is not configured for this machine: {err}")
    probe = standins.run("podman", "info", timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"podman does not run here: {probe.stderr.strip()[-300:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Compose, dict[str, str]]]:
    _preconditions()
    standins.ensure_base()
    standins.ensure_standins()
    tmp = tmp_path_factory.mktemp("stack")
    secrets_env = {
        f"MEDSCRIBE_REDIS_PASSWORD_{n}": secrets.token_hex(16)
        for n in ("ADMIN", "CAPTURE", "BRIDGE", "EDITOR", "NOTES")
    }
    api_port = free_port()
    env = {
        **secrets_env,
        "MEDSCRIBE_POSTGRES_PASSWORD": secrets.token_hex(16),
        "ASSEMBLYAI_API_KEY": "sim-key",
        "MEDSCRIBE_STREAMING_URL": "ws://sim-stt:8765/v3/ws",
        "MEDSCRIBE_LLM_GATEWAY_URL": "http://sim-llm:8090",
        "MEDSCRIBE_API_PUBLISH": f"127.0.0.1:{api_port}",
        "MEDSCRIBE_PACE_FACTOR": "4",
        "MEDSCRIBE_DEMO_TIME_SCALE": "4",
        "MEDSCRIBE_GRACE_PERIOD_S": "20",
        "MEDSCRIBE_RPM_PER_MODEL": "0",
        "MEDSCRIBE_IMAGE_TAG": "stacktest",
    }
    env_file = tmp / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    podman = PodmanService(tmp)
    podman.start()
    project = f"msstack{secrets.token_hex(3)}"
    compose = Compose(project, env_file, podman.docker_host)
    pump = HealthPump(project)
    pump.start()
    try:
        up = compose("up", "--build", "-d")
        if up.returncode != 0:
            pytest.fail(
                f"docker-compose up failed:\n{up.stderr[-1500:]}\n{compose.diagnose()[-12000:]}"
            )
        yield compose, {**env, "api": f"http://127.0.0.1:{api_port}"}
    finally:
        pump.stop()
        down = compose("down", "-v", "--remove-orphans", timeout=300)
        podman.stop()
        assert down.returncode == 0, down.stderr[-2000:]


def _wait_capture_done(compose: Compose) -> None:
    deadline = time.monotonic() + NOTE_TIMEOUT_S
    while time.monotonic() < deadline:
        status, code = compose.state("capture-demo")
        if status == "exited":
            assert code == 0, compose.logs("capture-demo")
            return
        time.sleep(2)
    pytest.fail("the capture container did not finish:\n" + compose.logs("capture-demo"))


def test_sample_visit_becomes_a_note_through_the_api(stack: tuple[Compose, dict[str, str]]) -> None:  # noqa: E501
    compose, env = stack
    _wait_capture_done(compose)
    made = compose.exec("notes", "medscribe", "notes", "token", "create", "--name", "stack",
                        "--role", "admin")  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[0]
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + NOTE_TIMEOUT_S
    note = None
    with httpx.Client(base_url=env["api"], headers=headers, timeout=10) as client:
        while time.monotonic() < deadline and note is None:
            page = client.get("/v1/encounters").json()
            for item in page.get("items", []):
                resp = client.get(f"/v1/encounters/{item['id']}/note")
                if resp.status_code == 200:
                    note = resp.json()
            time.sleep(2)
        assert note is not None, compose.logs("notes") + compose.logs("stt-bridge")
        assert "losartan 50 mg" in str(note)
        assert (
            client.get("/v1/encounters", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )  # noqa: E501


def test_redis_acls_hold_from_inside(stack: tuple[Compose, dict[str, str]]) -> None:
    compose, env = stack

    def cli(user: str | None, *cmd: str) -> str:
        auth = (
            ["--user", user, "--pass", env[f"MEDSCRIBE_REDIS_PASSWORD_{user.upper()}"]]
            if user
            else []
        )  # noqa: E501
        done = compose.exec("redis", "redis-cli", "--no-auth-warning", *auth, *cmd)
        return done.stdout + done.stderr

    assert "NOPERM" in cli("capture", "XRANGE", "ms:turns", "-", "+")
    assert "NOPERM" in cli("capture", "XADD", "ms:turns", "*", "v", "1")
    assert "NOPERM" in cli("capture", "XRANGE", "ms:turns:edited", "-", "+")
    assert "NOPERM" in cli("editor", "XRANGE", "ms:audio:x", "-", "+")
    assert "NOPERM" in cli(None, "XRANGE", "ms:turns", "-", "+")  # default user: PING only
    assert "PONG" in cli(None, "PING")
    assert "NOPERM" not in cli("notes", "XLEN", "ms:turns:edited")
    assert "NOPERM" not in cli("admin", "XLEN", "ms:turns")


def test_containers_run_as_non_root(stack: tuple[Compose, dict[str, str]]) -> None:
    compose, _ = stack
    for service in (*APP_SERVICES, "redis", "postgres"):
        done = compose.exec(service, "id", "-u")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() != "0", service


def test_editor_scales_out(stack: tuple[Compose, dict[str, str]]) -> None:
    compose, _ = stack
    scaled = compose("up", "-d", "--no-build", "--no-recreate", "--scale", "editor=2", "editor")
    assert scaled.returncode == 0, scaled.stderr[-2000:]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if compose.state("editor", index=2)[0] == "running":
            break
        time.sleep(2)
    assert compose.state("editor", index=2)[0] == "running", compose.diagnose()[-4000:]
    assert compose.state("editor", index=1)[0] == "running"
