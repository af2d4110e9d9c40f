"""`medscribe up`: every clinic-server service on one machine against real AssemblyAI,
with persistent Redis and database, restarts with backoff and one combined log view."""

from __future__ import annotations

import asyncio
import signal
from typing import TextIO

from medscribe.supervisor import redis_provider, stack
from medscribe.supervisor.config import SupervisorSettings, inherited_env
from medscribe.supervisor.readiness import NotReady, port_is_free, wait_http_ok
from medscribe.supervisor.supervisor import Backoff, ConsoleSink, Supervisor, child_env
from shared.settings import DEFAULT_DATABASE_URL

START_TIMEOUT_S = 60.0


async def run_up(settings: SupervisorSettings, out: TextIO) -> int:
    settings.require_streaming_key()  # MissingSetting names ASSEMBLYAI_API_KEY
    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    sup = Supervisor(
        ConsoleSink(out),
        Backoff(settings.restart_initial_s, settings.restart_max_s, settings.restart_reset_s),
        stop_timeout_s=settings.stop_timeout_s,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def say(text: str) -> None:
        out.write(f"{'medscribe':<12} | {text}\n")
        out.flush()

    try:
        if not port_is_free(settings.api_host, settings.api_port):
            raise stack.StackError(
                f"port {settings.api_port} is in use: stop what holds it or set MEDSCRIBE_API_PORT"
            )
        choice = await stack.provide_redis(
            sup, settings.redis_url, data / "redis", persistent=True,
            port=redis_provider.url_port(settings.redis_url), bind=settings.redis_bind,
            restart=True, allow_bundled=False, acl=True,
        )  # fmt: skip
        say(f"redis: {_label(choice)}")
        extra = {
            "MEDSCRIBE_REDIS_URL": choice.url_for("notes"),
            "MEDSCRIBE_DATABASE_URL": database_url(settings),
            "MEDSCRIBE_API_HOST": settings.api_host,
            "MEDSCRIBE_API_PORT": str(settings.api_port),
        }
        env = inherited_env()
        if "log_format" not in settings.model_fields_set:
            extra["MEDSCRIBE_LOG_FORMAT"] = "console"  # one readable view, not JSON
        env.setdefault("MEDSCRIBE_EXPORT_DIR", str(data / "exports"))
        env.pop("DATABASE_URL", None)  # MEDSCRIBE_DATABASE_URL above wins, unambiguously
        env = child_env(env, **extra)
        await stack.migrate(sup, env)
        specs = stack.service_specs(
            env, restart=True, editors=settings.editor_replicas, redis=choice
        )
        for spec in specs:
            await sup.start(spec)
        host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
        api = f"http://{host}:{settings.api_port}"
        await wait_http_ok("notes", f"{api}/healthz", START_TIMEOUT_S, None)
        say(f"staff API {api}; create a token: medscribe notes token create")
        if choice.users is not None:
            secrets_file = choice.users.aclfile.with_name("passwords.json")
            say(f"redis users: one per service, passwords in {secrets_file} (owner-only)")
            port = redis_provider.url_port(choice.url)
            say(f"add a room: MEDSCRIBE_REDIS_ADMIN_URL=redis://admin:PASSWORD@127.0.0.1:{port}/0"
                " medscribe notes room add exam-1  (PASSWORD: 'admin' in that file)")  # fmt: skip
            if settings.redis_bind in ("127.0.0.1", "localhost", "::1"):
                say("room machines cannot reach this Redis yet: set MEDSCRIBE_REDIS_BIND to "
                    "the server's LAN address")  # fmt: skip
        say("record a visit: medscribe capture with a room's credentials; Ctrl+C stops all")
        await stop.wait()
        return 0
    except (stack.StackError, NotReady) as err:
        say(f"cannot start: {err}")
        return 1
    finally:
        say("stopping every service ...")
        await sup.stop()
        say("stopped")


def database_url(settings: SupervisorSettings) -> str:
    if "database_url" in settings.model_fields_set or settings.database_url != DEFAULT_DATABASE_URL:
        return settings.database_url
    return f"sqlite+aiosqlite:///{settings.data_dir.resolve() / 'medscribe.db'}"


def _label(choice: stack.RedisChoice) -> str:
    if choice.origin == "external":
        return "using the Redis at MEDSCRIBE_REDIS_URL"
    return f"started redis-server ({choice.origin}) with append-only persistence"
