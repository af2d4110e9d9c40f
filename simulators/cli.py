"""`medscribe sim ...`: offline AssemblyAI streaming and LLM Gateway simulators."""

from __future__ import annotations

import typer

from shared.cli_util import not_yet

app = typer.Typer(
    help="Offline simulators of AssemblyAI Streaming v3 and the LLM Gateway.", no_args_is_help=True
)


@app.command("stt")
def stt() -> None:
    """Run the streaming v3 simulator."""
    not_yet("medscribe sim stt")
