"""The docker compose deployment, run for real: stand-in base images, podman behind
docker-compose, the `demo` profile (simulators + a capture container playing the sample
visit), with the production defaults of `.env.example` (real generated secrets, the editor's
rate limit on; only the simulators' URLs, the published port and the demo pacing differ).
A note must come out through the staff API with every turn edited, no dead letter and no
container restarted; Redis's ACLs must hold from inside; a Redis restart mid-life must lose
nothing and make nothing be transcribed twice. Everything is torn down afterwards.

Needs root, podman, docker-compose and debootstrap (../shared/design/containers.md);
skips with the reason otherwise. Marked `stack`: `pytest -m stack tests/stack`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis as sync_redis

from shared.cli_util import UNKNOWN_HOST
from tests.helpers.procs import REPO_ROOT, free_port
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


def _example_env() -> dict[str, str]:
    """`.env.example` as a clinic fills it in: every `change-me` a fresh random secret."""
    env = {}
    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = secrets.token_hex(24) if value == "change-me" else value
    return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Compose, dict[str, str]]]:
    _preconditions()
    standins.ensure_base()
    standins.ensure_standins()
    tmp = tmp_path_factory.mktemp("stack")
    api_port = free_port()
    env = {
        **_example_env(),
        # What the demo profile needs instead (README, .env.example's "Demo profile" notes).
        "MEDSCRIBE_STREAMING_URL": "ws://sim-stt:8765/v3/ws",
        "MEDSCRIBE_LLM_GATEWAY_URL": "http://sim-llm:8090",
        "MEDSCRIBE_PACE_FACTOR": "4",
        "MEDSCRIBE_DEMO_TIME_SCALE": "4",
        # Room machines reach Redis, and staff the console over HTTPS: the rooms and TLS
        # overrides, kept in .env as the README says.
        "COMPOSE_FILE": "docker-compose.yml:deploy/compose.rooms.yml:deploy/compose.tls.yml",
        "MEDSCRIBE_REDIS_PUBLISH": f"127.0.0.1:{free_port()}",
        "MEDSCRIBE_TLS_HOST": "127.0.0.1",
        "MEDSCRIBE_TLS_PUBLISH": f"127.0.0.1:{free_port()}",
        # Test plumbing: a free port, and images of our own tag.
        "MEDSCRIBE_API_PUBLISH": f"127.0.0.1:{api_port}",
        "MEDSCRIBE_IMAGE_TAG": "stacktest",
    }
    assert env["MEDSCRIBE_RPM_PER_MODEL"] != "0"  # the rate limit stays on, as shipped
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
        yield compose, {**env, "api": f"http://127.0.0.1:{api_port}", "env_file": str(env_file)}
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
    token = _token(compose, "stack")  # the capture container's exit reloads aardvark-dns
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


_INVENTORY = """
local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local kind = redis.call('TYPE', k)['ok']
  local n, pending = -1, 0
  if kind == 'stream' then
    n = redis.call('XLEN', k)
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', k)) do
      for i = 1, #g, 2 do if g[i] == 'pending' then pending = pending + g[i + 1] end end
    end
  end
  table.insert(out, k .. ' ' .. kind .. ' ' .. n .. ' ' .. pending .. ' ' .. redis.call('PTTL', k))
end
return out
"""


def _admin_run(
    compose: Compose, env: dict[str, str], *cmd: str
) -> subprocess.CompletedProcess[str]:
    """redis-cli as admin inside the redis container (password in its environment)."""
    return subprocess.run(
        ["podman", "exec", "-e", f"REDISCLI_AUTH={env['MEDSCRIBE_REDIS_PASSWORD_ADMIN']}",
         compose.container("redis"), "redis-cli", "--no-auth-warning", "--user", "admin", *cmd],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _admin(compose: Compose, env: dict[str, str], *cmd: str) -> str:
    done = _admin_run(compose, env, *cmd)
    assert done.returncode == 0, done.stderr[-500:]
    return done.stdout


Inventory = dict[str, tuple[str, int, int]]


def _durable(compose: Compose, env: dict[str, str]) -> Inventory:
    """Every key without an expiry (leases, rate windows and heartbeats come and go): its
    type and, for a stream, its length and the entries its consumer groups have pending."""
    out = {}
    for line in _admin(compose, env, "EVAL", _INVENTORY, "0").splitlines():
        key, kind, n, pending, pttl = line.rsplit(" ", 4)
        if int(pttl) < 0:
            out[key] = (kind, int(n), int(pending))
    return out


def _edited(compose: Compose, env: dict[str, str]) -> list[dict[str, object]]:
    out = _admin(compose, env, "XRANGE", "ms:turns:edited", "-", "+")
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _count_in_logs(compose: Compose, service: str, event: str) -> int:
    done = subprocess.run(
        ["podman", "logs", compose.container(service)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return len(re.findall(re.escape(event), done.stdout + done.stderr))


def _restart_counts(compose: Compose) -> dict[str, str]:
    out = {}
    for service in (*APP_SERVICES, "redis", "postgres"):
        done = subprocess.run(
            ["podman", "inspect", "--format", "{{.RestartCount}}", compose.container(service)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        out[service] = done.stdout.strip()
    return out


def _wait_settled(compose: Compose, env: dict[str, str]) -> Inventory:
    """Wait until the visit is transcribed, every turn has left the editor, every consumer
    group has acknowledged everything and nothing has moved for a few seconds; returns the
    durable keys then."""
    deadline = time.monotonic() + NOTE_TIMEOUT_S
    last: Inventory = {}
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        inv = _durable(compose, env)
        control = _admin(compose, env, "XRANGE", "ms:control", "-", "+")
        done = "EncounterTranscribed" in control
        edited_all = inv.get("ms:turns:edited", ("", -1))[1] == inv.get("ms:turns", ("", 0))[1]
        acked = all(pending == 0 for _, _, pending in inv.values())
        if inv != last:
            last, stable_since = inv, time.monotonic()
        elif done and edited_all and acked and time.monotonic() - stable_since > 5:
            return inv
        time.sleep(1)
    pytest.fail("the visit never settled:\n" + compose.diagnose()[-6000:])


def test_production_defaults_edit_every_turn_without_dead_letters_or_restarts(
    stack: tuple[Compose, dict[str, str]],
) -> None:
    compose, env = stack
    _wait_capture_done(compose)
    inv = _wait_settled(compose, env)
    statuses = [(t.get("edit_status"), t.get("edit_reason")) for t in _edited(compose, env)]
    assert statuses
    unedited = [s for s in statuses if s[0] == "fallback"]
    assert not unedited, f"{len(unedited)}/{len(statuses)} turns unedited: {set(unedited)}"
    assert inv.get("ms:dead", ("stream", 0))[1] == 0, _admin(compose, env, "XLEN", "ms:dead")
    assert set(_restart_counts(compose).values()) == {"0"}, _restart_counts(compose)


def test_redis_restart_loses_nothing_and_transcribes_nothing_twice(
    stack: tuple[Compose, dict[str, str]],
) -> None:
    compose, env = stack
    _wait_capture_done(compose)
    before = _wait_settled(compose, env)
    sessions = _count_in_logs(compose, "sim-stt", "stt_sim_session_opened")
    taken = _count_in_logs(compose, "stt-bridge", "encounter_taken")
    assert sessions >= 1
    assert taken >= 1

    restarted = compose("restart", "redis")
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    deadline = time.monotonic() + 120
    while _admin_run(compose, env, "PING").stdout.strip() != "PONG":
        assert time.monotonic() < deadline, compose.diagnose()[-4000:]
        time.sleep(1)
    # Compared at once (PING answers only once the AOF is loaded): nothing else may have
    # changed Redis in between but the services' own reconnect bookkeeping (with expiry).
    after = _durable(compose, env)
    lost = {k: v for k, v in before.items() if after.get(k) != v}
    assert not lost, f"changed or lost: {lost} -> { {k: after.get(k) for k in lost} }"
    # A key deleted before the restart must stay deleted. (A first dead letter would be new
    # data, not a resurrection: the production-defaults test asserts there are none.)
    back = set(after) - set(before) - {"ms:dead"}
    assert not back, f"came back: {sorted(back)}"
    # Long enough for every service to reconnect and for the bridge to scan for
    # encounters to resume (every 2 s) and to outlive a lease (15 s).
    time.sleep(25)
    assert _count_in_logs(compose, "sim-stt", "stt_sim_session_opened") == sessions
    assert _count_in_logs(compose, "stt-bridge", "encounter_taken") == taken
    log = compose.logs("redis", tail=400)
    assert "AOF-loading-client" not in log, log[-3000:]


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
    # `default` has a random password nobody knows: anonymous connections get nothing.
    assert "NOAUTH" in cli(None, "XRANGE", "ms:turns", "-", "+")
    assert "NOAUTH" in cli(None, "PING")
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


def _token(compose: Compose, name: str, role: str = "admin") -> str:
    # Podman 4.3's aardvark-dns (1.4) tears down and re-binds its listeners on every reload
    # (a container start or stop); when the re-bind loses, names stop resolving until the
    # next reload (aardvark-dns#389, fixed in 1.11). After `compose start redis` a lookup of
    # "postgres" failed for over 30 s in CI. What IT does (README, Troubleshooting): send
    # aardvark-dns a SIGHUP. A name still unresolvable 60 s on is a failure, with a report.
    deadline = time.monotonic() + 60
    hup_at = time.monotonic() + 10
    hups = 0
    while True:
        made = compose.exec("notes", "medscribe", "notes", "token", "create", "--name", name,
                            "--role", role)  # fmt: skip
        transient = UNKNOWN_HOST in made.stderr
        if made.returncode == 0 or not transient or time.monotonic() > deadline:
            break
        if time.monotonic() > hup_at:
            subprocess.run(["pkill", "-HUP", "-x", "aardvark-dns"], check=False, timeout=10)
            hups, hup_at = hups + 1, time.monotonic() + 10
        time.sleep(1)
    if made.returncode != 0:
        report = compose.dns_report("notes", "postgres", "redis")
        raise AssertionError(f"{made.stderr}\n(aardvark-dns reloads sent: {hups})\n{report}")
    if hups:
        print(f"aardvark-dns lost its listener; names resolved again after {hups} reload(s)")
    return made.stdout.strip().splitlines()[0]


def test_tls_front_gives_a_secure_cookie_and_the_real_client_address(
    stack: tuple[Compose, dict[str, str]], tmp_path: Path
) -> None:
    """deploy/compose.tls.yml: Caddy terminates HTTPS with a certificate from its local
    authority (its root, as IT gives it to the clinic's browsers, verifies it); the
    console's cookie is Secure; the audit log holds the client's address, not Caddy's,
    while a forged X-Forwarded-For sent to notes' own port is not believed."""
    compose, env = stack
    caddy = subprocess.run(
        ["podman", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} "
         "{{end}}", compose.container("tls")],
        capture_output=True, text=True, timeout=30, check=False,
    ).stdout.split()  # fmt: skip
    assert caddy, compose.diagnose()[-3000:]
    root = tmp_path / "root.crt"
    base = f"https://{env['MEDSCRIBE_TLS_PUBLISH']}"
    deadline = time.monotonic() + 120
    while True:  # the certificate is issued on Caddy's first start
        got = compose.exec("tls", "cat", "/data/caddy/pki/authorities/local/root.crt")
        if got.returncode == 0 and "BEGIN CERTIFICATE" in got.stdout:
            root.write_text(got.stdout)
            try:
                if httpx.get(f"{base}/healthz", verify=str(root), timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
        assert time.monotonic() < deadline, compose.logs("tls", tail=60)
        time.sleep(2)
    name = f"tls-{secrets.token_hex(3)}"
    token = _token(compose, name)
    with httpx.Client(base_url=base, verify=str(root), timeout=10) as client:
        form = client.get("/signin")
        nonce = re.search(r'name="form_nonce" value="([^"]+)"', form.text)
        assert nonce is not None, form.text[:500]
        signed = client.post("/signin", data={"token": token, "form_nonce": nonce.group(1)})
        assert signed.status_code in (200, 303), signed.status_code
        cookies = [c.lower() for c in signed.headers.get_list("set-cookie")]
        session = [c for c in cookies if c.startswith("medscribe_session=")]
        assert session, cookies
        assert "; secure" in session[0], session
        client.cookies.clear()
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/encounters", headers=headers).status_code == 200
    forged = httpx.get(f"{env['api']}/v1/encounters", timeout=10, headers={
        "Authorization": f"Bearer {token}", "X-Forwarded-For": "203.0.113.9"})  # fmt: skip
    assert forged.status_code == 200
    with httpx.Client(base_url=base, verify=str(root), timeout=10) as client:
        audit = client.get("/v1/audit", headers={"Authorization": f"Bearer {token}"},
                           params={"actor": name, "limit": 50}).json()["items"]  # fmt: skip
    seen = [a["source_ip"] for a in audit]
    assert len(seen) >= 2, audit  # the request through Caddy and the forged one at least
    for ip in seen:
        assert ip is not None, audit
        assert ipaddress.ip_address(ip)  # an address, ...
        assert ip not in caddy, (seen, caddy)  # ... not Caddy's own
        assert ip != "203.0.113.9", seen  # not believed from outside the front network


def test_documented_backups_and_restores_bring_back_exactly_what_was_saved(
    stack: tuple[Compose, dict[str, str]], tmp_path: Path
) -> None:
    """README, Backups, command for command: the PostgreSQL dump and the Redis append-only
    archive are owner-only files; restored, each holds what it held at the backup and
    nothing written after it (a token made after the dump no longer signs in; a key added
    after the archive is gone), and the services work on."""
    compose, env = stack
    _wait_capture_done(compose)
    _wait_settled(compose, env)
    record = _record(compose, env)

    dump = tmp_path / "medscribe.dump"
    done = compose.piped("exec", "-T", "postgres", "pg_dump", "-U", "medscribe", "-Fc",
                         "medscribe", stdout=dump)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert dump.stat().st_mode & 0o777 == 0o600
    assert dump.stat().st_size > 0
    later = _token(compose, f"later-{secrets.token_hex(3)}")
    assert compose("stop", "notes", demo=False).returncode == 0
    done = compose.piped("exec", "-T", "postgres", "pg_restore", "-U", "medscribe", "-d",
                         "medscribe", "--clean", "--if-exists", "--single-transaction",
                         "--no-owner", stdin=dump)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert compose("start", "notes", demo=False).returncode == 0
    _wait_healthy(compose, {"notes": 1})
    assert _record(compose, env) == record
    gone = httpx.get(f"{env['api']}/v1/encounters", timeout=10,
                     headers={"Authorization": f"Bearer {later}"})  # fmt: skip
    assert gone.status_code == 401

    _admin(compose, env, "SET", "ms:probe:before-backup", "1")
    rewrite = compose.piped("exec", "-T", "redis", "sh", "-c",
                            'REDISCLI_AUTH="$MEDSCRIBE_REDIS_PASSWORD_ADMIN" redis-cli '
                            "--no-auth-warning --user admin BGREWRITEAOF")  # fmt: skip
    assert rewrite.returncode == 0, rewrite.stderr
    deadline = time.monotonic() + 60
    while "aof_rewrite_in_progress:0" not in _admin(compose, env, "INFO", "persistence"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    archive = tmp_path / "redis.tar"
    done = compose.piped("exec", "-T", "redis", "tar", "-C", "/data", "-cf", "-",
                         "appendonlydir", stdout=archive)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert archive.stat().st_mode & 0o777 == 0o600
    _admin(compose, env, "SET", "ms:probe:after-backup", "1")
    assert compose("stop", "redis", demo=False).returncode == 0
    done = compose.piped("run", "--rm", "--no-deps", "-T", "--entrypoint", "sh", "redis", "-c",
                         "rm -rf /data/appendonlydir && tar -C /data -xf -",
                         stdin=archive)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert compose("start", "redis", demo=False).returncode == 0
    _wait_healthy(compose, {"redis": 1, "editor": 1, "stt-bridge": 1, "notes": 1})
    assert _admin(compose, env, "EXISTS", "ms:probe:before-backup").strip() == "1"
    assert _admin(compose, env, "EXISTS", "ms:probe:after-backup").strip() == "0"
    assert _admin(compose, env, "EXISTS", "ms:control").strip() == "1"
    _admin(compose, env, "DEL", "ms:probe:before-backup")
    assert _record(compose, env) == record


def _set_in_env_file(env: dict[str, str], **changes: str) -> None:
    """Edit .env as IT does: replace the lines of the given variables (or add them)."""
    path = Path(env["env_file"])
    lines = [ln for ln in path.read_text().splitlines() if ln.split("=", 1)[0] not in changes]
    path.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in changes.items())]) + "\n")
    env.update(changes)


def _wait_healthy(compose: Compose, services: dict[str, int], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(services)
    while pending:
        for service, count in list(pending.items()):
            if all(compose.health(service, i) == "healthy" for i in range(1, count + 1)):
                pending.pop(service)
        assert time.monotonic() < deadline, f"not healthy: {pending}\n" + compose.diagnose()[-6000:]
        time.sleep(2)


def _redis_login(env: dict[str, str], user: str, password: str) -> str:
    """PING through the published Redis port, as a room machine on the LAN connects."""
    host, _, port = env["MEDSCRIBE_REDIS_PUBLISH"].rpartition(":")
    client = sync_redis.Redis(host=host, port=int(port), username=user, password=password,
                              socket_timeout=10)  # fmt: skip
    try:
        return str(client.ping())
    except sync_redis.RedisError as err:
        return type(err).__name__ + ": " + str(err)
    finally:
        client.close()


def test_password_rotation_and_the_documented_upgrade_keep_everything(
    stack: tuple[Compose, dict[str, str]],
) -> None:
    """README, Security: rotate a Redis password by changing .env and `up -d`; README,
    Upgrades: `build && up -d` (v1: `--compatibility up -d`) with the rooms override and the
    editor count in .env. Afterwards: nothing in Redis lost, no visit transcribed again, the
    note still served, a room's credentials still let it in through the published port, the
    old password refused, every service healthy again and as many editors as .env says."""
    compose, env = stack
    _wait_capture_done(compose)
    _wait_settled(compose, env)
    sessions = _count_in_logs(compose, "sim-stt", "stt_sim_session_opened")
    record = _record(compose, env)
    admin_url = f"redis://admin:{env['MEDSCRIBE_REDIS_PASSWORD_ADMIN']}@redis:6379/0"
    added = subprocess.run(
        ["podman", "exec", "-e", f"MEDSCRIBE_REDIS_ADMIN_URL={admin_url}",
         compose.container("notes"), "medscribe", "notes", "room", "add", "exam-9"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    room_password = added.stdout.strip()
    assert _redis_login(env, "room-exam-9", room_password) == "True"

    old = env["MEDSCRIBE_REDIS_PASSWORD_EDITOR"]
    _set_in_env_file(env, MEDSCRIBE_REDIS_PASSWORD_EDITOR=secrets.token_hex(24))
    rotated = compose("up", "-d", demo=False)
    assert rotated.returncode == 0, rotated.stderr[-3000:]
    _wait_healthy(compose, {"redis": 1, "editor": 1, "stt-bridge": 1, "notes": 1})
    assert _redis_login(env, "editor", env["MEDSCRIBE_REDIS_PASSWORD_EDITOR"]) == "True"
    refused = _redis_login(env, "editor", old)
    assert "WRONGPASS" in refused or "invalid username-password" in refused, refused
    assert _redis_login(env, "room-exam-9", room_password) == "True"

    _set_in_env_file(env, MEDSCRIBE_EDITOR_REPLICAS="2")
    built = compose("build", demo=False)
    assert built.returncode == 0, built.stderr[-3000:]
    upgraded = compose("--compatibility", "up", "-d", demo=False)
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    _wait_healthy(compose, {"redis": 1, "editor": 2, "stt-bridge": 1, "notes": 1})
    assert _redis_login(env, "room-exam-9", room_password) == "True"

    assert _record(compose, env) == record  # every visit, turn and note as before
    assert _count_in_logs(compose, "sim-stt", "stt_sim_session_opened") == sessions


def _record(compose: Compose, env: dict[str, str]) -> dict[str, tuple[str, int, int]]:
    """Each visit's status, transcript length and note version, through the staff API."""
    headers = {"Authorization": f"Bearer {_token(compose, f'check-{secrets.token_hex(3)}')}"}
    out = {}
    with httpx.Client(base_url=env["api"], headers=headers, timeout=10) as client:
        for item in client.get("/v1/encounters").json()["items"]:
            turns = client.get(f"/v1/encounters/{item['id']}/transcript").json()["turns"]
            note = client.get(f"/v1/encounters/{item['id']}/note")
            assert note.status_code == 200, note.status_code
            out[item["id"]] = (item["status"], len(turns), note.json().get("version", 0))
    assert out
    return out


def test_rooms_own_credentials_from_inside(stack: tuple[Compose, dict[str, str]]) -> None:
    """Issue 19: rooms' credentials made in the notes container; a capture container with
    room A's records the sample visit and its live view shows the visit's text; room A is
    refused room B's streams, outcomes and transcripts; a revoked room is refused at once.
    (Last in the module: it adds a visit the tests above do not expect.)"""
    compose, env = stack
    admin_url = f"redis://admin:{env['MEDSCRIBE_REDIS_PASSWORD_ADMIN']}@redis:6379/0"

    def rooms_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", "exec", "-e", f"MEDSCRIBE_REDIS_ADMIN_URL={admin_url}",
             compose.container("notes"), "medscribe", "notes", "room", *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    added = rooms_cli("add", "exam-a")
    assert added.returncode == 0, added.stderr
    password = added.stdout.strip()
    assert rooms_cli("add", "exam-b").returncode == 0

    def as_room_a(*cmd: str) -> str:
        done = compose.exec(
            "redis", "redis-cli", "--no-auth-warning", "--user", "room-exam-a",
            "--pass", password, *cmd,
        )  # fmt: skip
        return done.stdout + done.stderr

    assert "NOPERM" not in as_room_a("XADD", "ms:audio:exam-a.probe", "1-0", "f", "v")
    for refused in (
        ("XADD", "ms:audio:exam-b.probe", "*", "f", "v"),
        ("XREVRANGE", "ms:audio:exam-b.probe", "+", "-"),
        ("XADD", "ms:room:exam-b:control", "*", "f", "v"),
        ("XREAD", "STREAMS", "ms:partials:exam-b.probe", "0"),
        ("XADD", "ms:control", "*", "type", "EncounterTranscribed"),
        ("XADD", "ms:control", "*", "type", "EncounterFailed"),
        ("XRANGE", "ms:turns", "-", "+"),
        ("XRANGE", "ms:turns:edited", "-", "+"),
        ("XRANGE", "ms:control", "-", "+"),
    ):
        assert "NOPERM" in as_room_a(*refused), refused

    room_url = f"redis://room-exam-a:{password}@redis:6379/0"
    record = (
        "medscribe sim encode \"$(python -c 'from simulators.samples import SAMPLE_VISIT; "
        "print(SAMPLE_VISIT)')\" -o /tmp/visit.wav && exec medscribe capture --file "
        "/tmp/visit.wav --speed 4 --llm-model claude-haiku-4-5-20251001 --show-text"
    )
    ran = compose(
        "run", "--rm", "--no-deps", "-T", "-e", f"MEDSCRIBE_REDIS_URL={room_url}",
        "-e", "MEDSCRIBE_ROOM=exam-a", "capture-demo", record, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    out = ran.stdout
    assert password not in out + ran.stderr
    assert "recording encounter=exam-a." in out
    assert re.search(r"turn seq=\d+ speaker=", out), out[-3000:]
    assert re.search(r"  (said  |edited): \S", out), out[-3000:]
    assert re.search(r"Visit page: \S+/encounters/exam-a\.", out), out[-3000:]
    forwarded = _admin(compose, env, "XRANGE", "ms:control", "-", "+")
    assert "exam-a." in forwarded  # the gate passed the room's start and stop on

    assert rooms_cli("revoke", "exam-a").returncode == 0
    assert "WRONGPASS" in as_room_a("PING")
