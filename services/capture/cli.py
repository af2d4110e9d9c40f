"""`medscribe capture`: command-line entry point (flags -> Settings -> service.run).

Exit codes: 0 every frame is on the clinic server; 75 the visit ended but part of it waits
in the local spool (sent on the next start); 1 the audio source failed; 2 bad
configuration; 3 the clinic server refused the visit (room cap, revoked room; the audio
not sent is kept under <spool>/refused/); 4 recording stopped because the spool's disk
budget was full.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import typer
from pydantic import ValidationError

from services.capture.config import CaptureSettings, KeytermError, load_settings, read_keyterms
from services.capture.live_view import make_view
from services.capture.menu import MenuCancelled, choose_model
from services.capture.sources import AudioSource, SourceError, StdinSource, WavFileSource
from shared import aio
from shared.cli_options import DeviceOption, LlmModelOption, RoomOption, StdinOption, WavFileOption
from shared.cli_util import fail, fail_on_no_permission, settings_error
from shared.contracts import StreamNames
from shared.logging import configure_logging
from shared.private_files import private_dir
from shared.redis_acl import startup_check

if TYPE_CHECKING:
    import redis.asyncio as aioredis

EXIT_SPOOLED = 75
EXIT_SPOOL_FULL = 4
EXIT_REFUSED = 3


def _speed(value: str) -> float | None:
    if value.strip().lower() == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        fail(f"--speed must be a number or 'max', not {value!r}")
    if speed <= 0:
        fail("--speed must be positive")
    return speed


def safe_url(url: str) -> str:
    """A Redis URL for display: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _make_source(file: Path | None, stdin: bool, device: str | None, speed: str) -> AudioSource:
    if file is not None and stdin:
        fail("choose one source: --file or --stdin (or neither for the microphone)")
    if file is not None:
        return WavFileSource(file, _speed(speed))
    if stdin:
        return StdinSource(speed=_speed(speed) if speed != "1" else None)
    from services.capture.mic import MicSource

    return MicSource(device)


def _check_spool_dir(spool_dir: Path) -> None:
    """Refuse to record when audio could not be kept during a network outage."""
    try:
        private_dir(spool_dir)  # raw audio: owner-only
    except OSError as err:
        fail(f"cannot create the spool directory {spool_dir}: {err.strerror}")
    if not os.access(spool_dir, os.W_OK | os.X_OK):
        fail(f"the spool directory {spool_dir} is not writable (MEDSCRIBE_SPOOL_DIR)")


def _list_devices() -> None:
    from services.capture.mic import list_devices

    devices = list_devices()
    if not devices:
        typer.echo("no input devices found")
    for dev in devices:
        typer.echo(f"{dev.index:3d}  {dev.name}  ({dev.channels} ch, {dev.default_rate} Hz)")


def capture(
    file: WavFileOption = None,
    stdin: StdinOption = False,
    device: DeviceOption = None,
    list_devices: bool = typer.Option(False, "--list-devices", help="List microphones, exit."),
    speed: str = typer.Option("1", "--speed", help="File playback speed: 1 = real time, N, max."),
    room: RoomOption = None,
    clinician: str | None = typer.Option(None, "--clinician", help="Clinician id."),
    llm_model: LlmModelOption = None,
    speech_model: str | None = typer.Option(None, "--speech-model", help="e.g. u3-rt-pro."),
    keyterms_file: Path | None = typer.Option(
        None, "--keyterms-file", help="One term per line; at most 100 terms of 50 characters."
    ),
    redis_url: str | None = typer.Option(None, "--redis-url", help="[MEDSCRIBE_REDIS_URL]"),
    spool_dir: Path | None = typer.Option(None, "--spool-dir", help="[MEDSCRIBE_SPOOL_DIR]"),
    config: Path | None = typer.Option(
        None, "--config", help="KEY=value file (see docs); default ~/.config/medscribe/capture.env"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check audio source, Redis, spool."),
    flush_only: bool = typer.Option(
        False, "--flush-only", help="Only send audio left in the spool by earlier runs."
    ),
    show_text: bool = typer.Option(
        False, "--show-text", help="Print transcript text even when stdout is not a terminal."
    ),
) -> None:
    """Record one visit: Ctrl+C (or end of file) ends it; a second Ctrl+C exits at once."""
    try:
        settings = load_settings(
            config,
            room=room,
            clinician=clinician,
            llm_model=llm_model,
            speech_model=speech_model,
            keyterms_file=keyterms_file,
            redis_url=redis_url,
            spool_dir=spool_dir,
        )
    except ValidationError as err:
        settings_error(err)
    except FileNotFoundError as err:
        fail(str(err))
    level = settings.log_level
    if sys.stdout.isatty() and sys.stderr.isatty() and level.upper() == "INFO":
        level = "WARNING"  # the live view says it all; INFO lines would break its redraw
    configure_logging(level, settings.log_format, service="capture")
    try:
        if list_devices:
            _list_devices()
            return
        keyterms = read_keyterms(settings.keyterms_file) if settings.keyterms_file else ()
        if flush_only:
            try:
                code = asyncio.run(_flush_only(settings))
            except Exception as err:
                fail_on_no_permission(err, settings.redis_url)
                raise
            raise typer.Exit(code)
        source = _make_source(file, stdin, device, speed)
        if not dry_run:
            _check_spool_dir(settings.spool_dir)
        if dry_run:
            from services.capture.checks import dry_run as run_checks

            ok = asyncio.run(run_checks(settings, source, keyterms, safe_url(settings.redis_url)))
            raise typer.Exit(0 if ok else 1)
        interactive = sys.stdin.isatty() and sys.stdout.isatty() and not stdin
        model, how = choose_model(
            settings.llm_models, settings.llm_model, interactive,
            labels=settings.llm_model_labels,
        )  # fmt: skip
    except MenuCancelled as err:  # the user's choice, not an error (as in the guide)
        typer.echo(str(err))
        raise typer.Exit(0) from None
    except (KeytermError, SourceError, ValueError) as err:
        fail(str(err))
    if how == "default" and not sys.stdout.isatty():
        typer.echo(f"LLM model {model} (first configured; --llm-model to choose)")
    try:
        recording = _record(settings, source, model, keyterms, show_text)
        code = aio.run(recording, use_uvloop=settings.uvloop)
    except Exception as err:
        fail_on_no_permission(err, settings.redis_url)
        raise
    raise typer.Exit(code)


async def _record(
    settings: CaptureSettings,
    source: AudioSource,
    model: str,
    keyterms: tuple[str, ...],
    show_text: bool,
) -> int:
    from services.capture.service import StopSignals, run

    signals = StopSignals.create()
    view = make_view(sys.stdout, show_text=show_text)
    _install_signals(signals, view)
    async with _writer_redis(settings) as redis:
        result = await run(
            settings,
            source,
            redis,
            llm_model=model,
            keyterms=keyterms,
            view=view,
            signals=signals,
        )
    if result.stop_reason == "refused":
        return EXIT_REFUSED
    if result.stop_reason == "spool_full":
        return EXIT_SPOOL_FULL
    if result.stop_reason == "source_error":
        return 1
    return 0 if result.delivered else EXIT_SPOOLED


@contextlib.asynccontextmanager
async def _writer_redis(settings: CaptureSettings) -> AsyncIterator[aioredis.Redis]:
    """The frame writer's client, its permissions checked before any audio is taken or
    sent (a room must not record into a spool Redis will never take); closed after."""
    from shared.streams import make_redis

    redis = make_redis(settings.redis_url, retry=False)  # the writer sees every outage
    try:
        await startup_check(
            redis, settings.acl_service, StreamNames(settings.stream_prefix), settings.redis_url
        )
        yield redis
    finally:
        await redis.aclose()


def _install_signals(signals: Any, view: Any) -> None:
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if signals.stop.is_set():
            signals.now.set()
            return
        signals.stop.set()
        view.notice("stopping the visit (press Ctrl+C again to exit now; audio is kept)")

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)


async def _flush_only(settings: CaptureSettings) -> int:
    from services.capture.recovery import leftover_spools, recover_spools
    from services.capture.service import replica_wait

    before = leftover_spools(settings.spool_dir)
    if not before:
        typer.echo(f"spool {settings.spool_dir} is empty")
        return 0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    typer.echo(f"sending {len(before)} spooled encounter(s) to {safe_url(settings.redis_url)} ...")
    async with _writer_redis(settings) as redis:
        done = await recover_spools(
            redis,
            settings.spool_dir,
            stop,
            wait=replica_wait(settings),
            settle_s=settings.replica_settle_s,
        )
    left = len(leftover_spools(settings.spool_dir))
    typer.echo(f"{done} encounter(s) sent; {left} left in the spool")
    return 0 if left == 0 else EXIT_SPOOLED
