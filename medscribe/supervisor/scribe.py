"""`medscribe scribe`: one command for one clinician, as the original guide's script was.

It starts the clinic-server pipeline on this machine (persistent Redis and database, as
`medscribe up` does, services restarted after a crash), runs the room agent in the
foreground (model menu, live view), and after Ctrl+C waits for the transcript and SOAP
files and prints where they are. Everything the pipeline adds still holds: audio is
spooled through a network blink, and a visit whose note was not written yet (the command
was stopped or the machine restarted) is finished by the next `medscribe scribe` or
`medscribe up` from the same data folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO, TypeVar

from medscribe.supervisor import redis_provider, stack
from medscribe.supervisor.config import SupervisorSettings, inherited_env
from medscribe.supervisor.demo_visit import DemoResult, VisitError, wait_note
from medscribe.supervisor.readiness import NotReady, port_is_free, wait_http_ok
from medscribe.supervisor.supervisor import (
    Backoff,
    FileSink,
    ServiceSpec,
    Supervisor,
    child_env,
    medscribe_argv,
)
from medscribe.supervisor.up import database_url
from shared.aio import cancel_all
from shared.contracts import EncounterStarted, MalformedEntry, StreamNames, decode_control
from shared.streams import make_redis

T = TypeVar("T")
START_TIMEOUT_S = 60.0


@dataclass
class ScribeOptions:
    capture_args: list[str] = field(default_factory=list)  # handed to `medscribe capture`
    verbose: bool = False


class _Stopped(Exception):
    pass


class _Signals:
    """While the room agent records, Ctrl+C is its own (it ends the visit and exits); after
    that, Ctrl+C or SIGTERM stops waiting for the note (it is written on the next start)."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.recording = False

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._on_int)
        loop.add_signal_handler(signal.SIGTERM, self.stop.set)

    def _on_int(self) -> None:
        if not self.recording:  # the terminal sent it to the agent as well
            self.stop.set()


async def run_scribe(settings: SupervisorSettings, opts: ScribeOptions, out: TextIO) -> int:
    settings.require_streaming_key()  # MissingSetting names ASSEMBLYAI_API_KEY
    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    logs = FileSink.shown_when(opts.verbose, data / "logs", out)
    sup = Supervisor(
        logs,
        Backoff(settings.restart_initial_s, settings.restart_max_s, settings.restart_reset_s),
        stop_timeout_s=settings.stop_timeout_s,
    )
    sig = _Signals()
    sig.install()

    def say(text: str) -> None:
        out.write(f"medscribe: {text}\n")
        out.flush()

    async def step(aw: Awaitable[T]) -> T:
        return await _until_stopped(aw, sig)

    enc: str | None = None
    env: dict[str, str] | None = None
    pending: list[asyncio.Task[str]] = []  # started steps, awaited where they are needed
    token_name = f"scribe-{secrets.token_hex(4)}"
    try:
        if not port_is_free(settings.api_host, settings.api_port):
            raise stack.StackError(
                f"port {settings.api_port} is in use (is `medscribe up` running? then use "
                "`medscribe capture`), or set MEDSCRIBE_API_PORT"
            )
        choice = await step(stack.provide_redis(
            sup, settings.redis_url, data / "redis", persistent=True,
            port=redis_provider.url_port(settings.redis_url), restart=True,
        ))  # fmt: skip
        env = _services_env(settings, data, choice.url)
        await step(stack.migrate(sup, env))
        # The token is written while the services start (it is first needed below).
        token_made = asyncio.create_task(stack.create_token(sup, env, token_name, "staff"))
        pending.append(token_made)
        for spec in stack.service_specs(env, restart=True):
            await sup.start(spec)
        api = f"http://127.0.0.1:{settings.api_port}"
        await step(wait_http_ok("notes", f"{api}/healthz", START_TIMEOUT_S, None))
        token = await step(token_made)
        say(f"pipeline running on this machine (logs in {logs.folder}); Ctrl+C ends the visit")
        names = StreamNames(settings.stream_prefix)
        mark = await step(_control_tail(choice.url, names))
        sig.recording = True
        code = await _record(env, opts, sig)
        sig.recording = False
        if code != 0:
            say(f"the recording ended with exit code {code}")
            return code
        enc = await step(_encounter_after(choice.url, names, mark))
        if enc is None:  # Esc at the menu, or nothing was recorded
            return 0
        say("visit recorded; writing the transcript and the SOAP note ...")
        result = await step(wait_note(api, token, enc, data / "exports",
                                      settings.scribe_note_timeout_s))  # fmt: skip
        _report(say, result)
        return 0
    except _Stopped:
        if enc is not None:
            say(
                "stopped before the note was written; the visit is saved, and its note "
                f"is written when `medscribe scribe` or `medscribe up` next runs in {data}"
            )
        else:
            say("stopped")
        return 130
    except VisitError as err:
        say(f"{err}")
        return 1
    except (stack.StackError, NotReady) as err:
        say(f"cannot start: {err}")
        return 1
    finally:
        await cancel_all(pending)  # a step that failed or was stopped before it was awaited
        if env is not None:  # the run's own API token is of no use after it
            await asyncio.gather(sup.stop(), _revoke(sup, env, token_name))
        else:
            await sup.stop()
        logs.close()


async def _revoke(sup: Supervisor, env: dict[str, str], name: str) -> None:
    with contextlib.suppress(Exception):  # best effort: a staff token, read-only
        await sup.run_once(ServiceSpec("token", medscribe_argv("notes", "token", "revoke", name),
                                       env))  # fmt: skip


def _services_env(settings: SupervisorSettings, data: Path, redis_url: str) -> dict[str, str]:
    env = inherited_env()
    env.setdefault("MEDSCRIBE_EXPORT_DIR", str(data / "exports"))
    env.setdefault("MEDSCRIBE_SPOOL_DIR", str(data / "spool"))
    env.pop("DATABASE_URL", None)  # MEDSCRIBE_DATABASE_URL below wins, unambiguously
    extra = {
        "MEDSCRIBE_REDIS_URL": redis_url,
        "MEDSCRIBE_DATABASE_URL": database_url(settings),
        "MEDSCRIBE_API_HOST": "127.0.0.1",  # one clinician's machine: nothing to share
        "MEDSCRIBE_API_PORT": str(settings.api_port),
        "MEDSCRIBE_NOTES_URL": f"http://127.0.0.1:{settings.api_port}",
    }
    if "log_format" not in settings.model_fields_set:
        extra["MEDSCRIBE_LOG_FORMAT"] = "json"
    return child_env(env, **extra)


async def _record(env: dict[str, str], opts: ScribeOptions, sig: _Signals) -> int:
    """The room agent in the foreground: same terminal, same process group (so Ctrl+C
    reaches it), its menu and live view on this screen."""
    proc = await asyncio.create_subprocess_exec(
        *medscribe_argv("capture", *opts.capture_args), env=env
    )
    wait = asyncio.ensure_future(proc.wait())
    stop = asyncio.ensure_future(sig.stop.wait())
    await asyncio.wait({wait, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if not wait.done():  # SIGTERM to us: the agent ends the visit the same way
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        await wait
    return wait.result()


async def _control_tail(redis_url: str, names: StreamNames) -> str:
    client = make_redis(redis_url)
    try:
        last = await client.xrevrange(names.control, count=1)
    finally:
        await client.aclose()
    return _id(last[0][0]) if last else "0-0"


async def _encounter_after(redis_url: str, names: StreamNames, mark: str) -> str | None:
    """The encounter this run's agent started (the control stream keeps earlier ones)."""
    client = make_redis(redis_url)
    try:
        rows = await client.xrange(names.control, min=f"({mark}")
    finally:
        await client.aclose()
    for _entry, fields in rows or []:
        with contextlib.suppress(MalformedEntry):  # another writer's entry: not ours
            msg = decode_control(fields or {})
            if isinstance(msg, EncounterStarted):
                return msg.encounter_id
    return None


def _id(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def _until_stopped(aw: Awaitable[T], sig: _Signals) -> T:
    task = asyncio.ensure_future(aw)
    stop = asyncio.ensure_future(sig.stop.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise _Stopped


def _report(say: object, r: DemoResult) -> None:
    assert callable(say)
    say(f"encounter {r.encounter_id}")
    say(f"  transcript  {r.transcript}")
    say(f"  SOAP note   {r.note}")
