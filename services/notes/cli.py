"""`medscribe notes ...`: the notes service, its migrations and API tokens."""

from __future__ import annotations

import asyncio

import typer
from pydantic import ValidationError

from services.notes.config import NotesSettings
from shared.cli_util import fail, settings_error

app = typer.Typer(help="Notes service: encounters, SOAP notes, staff API.", no_args_is_help=True)
migrate_app = typer.Typer(
    help="Database schema (Alembic): `upgrade` (default), `down`, `status`.",
    invoke_without_command=True,
)
app.add_typer(migrate_app, name="migrate")


def load_settings() -> NotesSettings:
    try:
        return NotesSettings()
    except ValidationError as err:
        settings_error(err)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@migrate_app.callback()
def migrate(
    ctx: typer.Context,
    revision: str = typer.Option("head", "--revision", "-r", help="Target revision."),
) -> None:
    """Upgrade the database to the code's schema (safe to run again)."""
    if ctx.invoked_subcommand is not None:
        return
    from services.notes.db import migrate as mig
    from services.notes.db.engine import DatabaseUrlError

    s = load_settings()
    try:
        mig.upgrade(s.database_url, revision)
        state = asyncio.run(mig.current_state(s.database_url))
    except DatabaseUrlError as err:
        fail(str(err))
    except OSError as err:
        fail(f"cannot reach the database {_safe_url(s.database_url)}: {type(err).__name__}")
    typer.echo(f"database {_safe_url(s.database_url)} at revision {state.current}")


@migrate_app.command("down")
def migrate_down(
    revision: str = typer.Argument(..., help="Revision to go down to (`base` = empty)."),
    yes: bool = typer.Option(False, "--yes", help="Confirm: downgrading can drop data."),
) -> None:
    """Downgrade the schema (drops tables or columns: clinical data can be lost)."""
    from services.notes.db import migrate as mig

    if not yes:
        fail("downgrading can delete clinical data; repeat with --yes to confirm")
    s = load_settings()
    mig.downgrade(s.database_url, revision)
    state = asyncio.run(mig.current_state(s.database_url))
    typer.echo(f"database {_safe_url(s.database_url)} at revision {state.current or 'base'}")


@migrate_app.command("status")
def migrate_status() -> None:
    """Show the database's revision and the one this code needs."""
    from services.notes.db import migrate as mig

    s = load_settings()
    state = asyncio.run(mig.current_state(s.database_url))
    typer.echo(f"current {state.current or 'none'}  head {state.head}")
    if not state.up_to_date:
        raise typer.Exit(1)


@app.command("run")
def run() -> None:
    """Consume edited turns and control events, write notes, serve the staff API."""
    from shared.cli_util import not_yet

    not_yet("medscribe notes run")
