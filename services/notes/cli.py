"""`medscribe notes ...`: the notes service, its migrations and API tokens."""

from __future__ import annotations

import typer

from shared.cli_util import not_yet

app = typer.Typer(help="Notes service: encounters, SOAP notes, staff API.", no_args_is_help=True)


@app.command("run")
def run() -> None:
    """Consume edited turns and control events, write notes, serve the staff API."""
    not_yet("medscribe notes run")
