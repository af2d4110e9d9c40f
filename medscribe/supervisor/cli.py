"""`medscribe demo`, `up` and `scribe`: run the whole pipeline as supervised processes."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from shared.cli_options import DeviceOption, LlmModelOption, RoomOption, StdinOption, WavFileOption
from shared.cli_util import fail, settings_error, settings_from
from shared.logging import configure_logging
from shared.settings import MissingSetting

if TYPE_CHECKING:
    from medscribe.supervisor.config import SupervisorSettings


def _settings(**overrides: Any) -> SupervisorSettings:
    from medscribe.supervisor.config import SupervisorSettings

    return settings_from(SupervisorSettings, **overrides)


def demo(
    file: Path | None = typer.Option(
        None, "--file", "-f", help="Play this WAV recording instead of the built-in sample."
    ),
    serve: bool = typer.Option(
        False, "--serve", help="Keep the staff API up after the note, until Ctrl+C."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every service's log."),
    demo_dir: Path | None = typer.Option(
        None, "--dir", help="Folder of the demo's database, exports and logs [./demo-data]."
    ),
    time_scale: float | None = typer.Option(
        None, "--time-scale", help="Play this many times faster than real time [8]."
    ),
) -> None:
    """Whole pipeline with simulators and a sample visit: no keys, no Docker."""
    from medscribe.supervisor.demo import DemoOptions, run_demo

    if file is not None and not file.is_file():
        fail(f"{file} does not exist")
    settings = _settings(demo_dir=demo_dir, demo_time_scale=time_scale)
    configure_logging("WARNING", "console", service="supervisor")
    opts = DemoOptions(file=file, serve=serve, verbose=verbose)
    code = asyncio.run(run_demo(settings, opts, sys.stdout))
    raise typer.Exit(code)


def up(
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Redis AOF, SQLite database, exports [./medscribe-data]."
    ),
    editors: int | None = typer.Option(None, "--editors", help="Editor processes [1]."),
) -> None:
    """All clinic-server services against real AssemblyAI (ASSEMBLYAI_API_KEY)."""
    from medscribe.supervisor.up import run_up

    settings = _settings(data_dir=data_dir, editor_replicas=editors)
    configure_logging(settings.log_level, "console", service="supervisor")
    try:
        code = asyncio.run(run_up(settings, sys.stdout))
    except MissingSetting as err:
        settings_error(err)
    raise typer.Exit(code)


def scribe(
    file: WavFileOption = None,
    stdin: StdinOption = False,
    device: DeviceOption = None,
    speed: str | None = typer.Option(None, "--speed", help="File playback speed: 1, N, max."),
    llm_model: LlmModelOption = None,
    room: RoomOption = None,
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Redis AOF, SQLite database, exports [./medscribe-data]."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every service's log."),
) -> None:
    """One clinician, one command: pick a model, talk, Ctrl+C, get the transcript and SOAP
    files (real AssemblyAI, ASSEMBLYAI_API_KEY; microphone unless --file or --stdin)."""
    from medscribe.supervisor.scribe import ScribeOptions, run_scribe

    if file is not None and not file.is_file():
        fail(f"{file} does not exist")
    if file is not None and stdin:
        fail("choose one source: --file or --stdin (or neither for the microphone)")
    args: list[str] = []
    for flag, value in (("--file", file), ("--device", device), ("--speed", speed),
                        ("--llm-model", llm_model), ("--room", room)):  # fmt: skip
        if value is not None:
            args += [flag, str(value)]
    if stdin:
        args.append("--stdin")
    settings = _settings(data_dir=data_dir)
    configure_logging("WARNING", "console", service="supervisor")
    try:
        code = asyncio.run(run_scribe(settings, ScribeOptions(args, verbose), sys.stdout))
    except MissingSetting as err:
        settings_error(err)
    raise typer.Exit(code)
