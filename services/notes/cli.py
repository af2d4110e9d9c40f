"""`medscribe notes ...`: the notes service, its migrations and API tokens."""

from __future__ import annotations

import typer

from shared.cli_util import not_yet

app = typer.Typer(help="Notes service: encounters, SOAP notes, staff API.", no_args_is_help=True)


@app.command("run")
def run() -> None:
    """Consume edited turns and control events, write notes, serve the staff API."""
    not_yet("medscribe notes run")


# --- API tokens (`medscribe notes token create|list|revoke`) -----------------------------
# Self-contained block of the staff API; operates on the database directly.

from typing import Any  # noqa: E402 - kept inside this block to stay merge-friendly

token_app = typer.Typer(help="API tokens of the staff API (shown once, stored hashed).")
app.add_typer(token_app, name="token", no_args_is_help=True)


def _token_db_run(work: Any) -> Any:
    """Build NotesSettings and a Database once, run ``work(db)``, dispose."""
    import asyncio

    from pydantic import ValidationError

    from services.notes.api.token_admin import TokenAdminError
    from services.notes.config import NotesSettings
    from services.notes.db.engine import Database, DatabaseUrlError
    from shared.cli_util import fail, settings_error

    try:
        settings = NotesSettings()
    except ValidationError as err:
        settings_error(err)

    async def go() -> Any:
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except (TokenAdminError, DatabaseUrlError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"cannot reach the database ({type(err).__name__})")


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., "--name", help="Who or what uses it, e.g. dr-lee or ehr-sync."),
    role: str = typer.Option(..., "--role", help="clinician, staff, admin or auditor."),
    clinician: str | None = typer.Option(
        None, "--clinician", help="Clinician id (required for role clinician)."
    ),
) -> None:
    """Create a token. The secret goes to stdout, once; everything else to stderr."""
    from services.notes.api import token_admin

    info, secret = _token_db_run(lambda db: token_admin.create(db, name, role, clinician))
    extra = f", clinician {info.clinician_id}" if info.clinician_id else ""
    typer.echo(f"created token {info.name!r} (id {info.id}, role {info.role}{extra})", err=True)
    typer.echo(secret)
    typer.echo("Store it now: it is shown only once (the database keeps a hash).", err=True)


@token_app.command("list")
def token_list() -> None:
    """List tokens (never their secrets)."""
    from services.notes.api import token_admin

    rows = _token_db_run(token_admin.list_all)
    if not rows:
        typer.echo("no tokens; create one with `medscribe notes token create`")
        return
    typer.echo(f"{'id':>4}  {'name':<24} {'role':<9} {'clinician':<16} {'created':<20} state")
    for t in rows:
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
        if t.last_used_at and not t.revoked_at:
            state += f", last used {t.last_used_at:%Y-%m-%d %H:%M}"
        typer.echo(
            f"{t.id:>4}  {t.name:<24} {t.role:<9} {t.clinician_id or '-':<16} "
            f"{t.created_at:%Y-%m-%d %H:%M:%S}  {state}"
        )


@token_app.command("revoke")
def token_revoke(
    name_or_id: str = typer.Argument(..., help="The token's name or id (see `token list`)."),
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    from services.notes.api import token_admin

    info = _token_db_run(lambda db: token_admin.revoke(db, name_or_id))
    typer.echo(f"revoked token {info.name!r} (id {info.id})")
