"""`medscribe notes ...`: the notes service, its migrations and API tokens."""

from __future__ import annotations

import asyncio
import importlib
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from services.notes.config import NotesSettings
from shared import aio
from shared.cli_util import (
    fail,
    fail_on_no_permission,
    settings_error,
    settings_from,
    why_unreachable,
)
from shared.logging import configure_logging, get_logger
from shared.settings import MissingSetting

if TYPE_CHECKING:
    from services.notes.api.token_admin import TokenInfo
    from services.notes.room_admin import RoomInfo
    from services.notes.service import ExtraTask, NotesRuntime, Role

log = get_logger(__name__)
_Row = TypeVar("_Row")

app = typer.Typer(help="Notes service: encounters, SOAP notes, staff API.", no_args_is_help=True)
migrate_app = typer.Typer(
    help="Database schema (Alembic): `upgrade` (default), `down`, `status`.",
    invoke_without_command=True,
)
app.add_typer(migrate_app, name="migrate")


def load_settings() -> NotesSettings:
    return settings_from(NotesSettings)


def _refuse_weak_passwords(s: NotesSettings) -> None:
    """No start with a placeholder, short or reused Redis/database password (issue 20).

    URLs without a password (a local SQLite database, a loopback Redis) are not checked.
    """
    from shared.secret_rules import check_passwords, url_password

    problems = check_passwords(
        {
            "MEDSCRIBE_REDIS_URL": url_password(s.redis_url),
            "MEDSCRIBE_DATABASE_URL": url_password(s.database_url),
        }
    )
    if problems:
        fail(problems[0])


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
    configure_logging(s.log_level, s.log_format, "notes")
    try:
        mig.upgrade(s.database_url, revision)
        state = asyncio.run(mig.current_state(s.database_url))
    except DatabaseUrlError as err:
        fail(str(err))
    except OSError as err:
        fail(f"cannot reach the database {_safe_url(s.database_url)}: {why_unreachable(err)}")
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
    configure_logging(s.log_level, s.log_format, "notes")
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


@app.command("export")
def export(
    encounter_ids: list[str] = typer.Argument(None, help="Encounters to export (default: all)."),
) -> None:
    """Write (again) the transcript, SOAP note and JSON files of encounters."""
    from services.notes.db import repo
    from services.notes.db.engine import Database
    from services.notes.exporter import export_encounter

    s = load_settings()

    async def go() -> int:
        db = Database(s.database_url)
        try:
            ids = list(encounter_ids or [])
            if not ids:
                async with db.session() as session:
                    ids = await repo.all_encounter_ids(session)
            for enc_id in ids:
                files = await export_encounter(
                    db, s.export_dir, enc_id, s.tzinfo(), s.speaker_roles
                )
                typer.echo(f"{enc_id}: {files.folder}")
            return len(ids)
        finally:
            await db.dispose()

    try:
        count = asyncio.run(go())
    except LookupError as err:
        fail(f"no encounter {err}")
    typer.echo(f"exported {count} encounter(s) to {s.export_dir}")


def _api_task() -> ExtraTask | None:
    """The staff API (``services.notes.api``, built on its own branch) when present."""
    try:
        server = importlib.import_module("services.notes.api.server")
    except ModuleNotFoundError:
        return None
    serve_api = server.serve_api

    async def api(rt: NotesRuntime, stop: asyncio.Event) -> None:
        await serve_api(
            rt.settings,
            rt.db,
            rt.redis,
            stop,
            service_metrics=rt.metrics,
            gateway=rt.gateway,
            gateway_key=rt.gateway_key,
        )

    return api


async def _main(s: NotesSettings, roles: frozenset[Role]) -> None:
    from services.notes.db.engine import Database
    from services.notes.service import Role
    from services.notes.service import run as run_service
    from shared.contracts import StreamNames
    from shared.gateway import GatewayClient
    from shared.rate_limit import QuotaGate, RateLimiter
    from shared.redis_acl import startup_check
    from shared.streams import make_redis

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    db = Database(s.database_url)
    redis = make_redis(s.redis_url)
    names = StreamNames(s.stream_prefix)
    gateway: GatewayClient | None = None
    if roles & {Role.WRITER, Role.API}:  # notes; after-visit summaries (ingest calls none)
        # SOAP calls count against the same per-model quota as the editor's edits (the
        # editor leaves MEDSCRIBE_NOTES_RESERVE of each window to them); a wait past one
        # window defers the note with backoff, as a gateway 429 would.
        limiter = RateLimiter(
            redis, names.llm_rate_prefix, limit=s.rpm_per_model or None,
            window_s=s.rate_window_s, margin_s=s.rate_margin_s,
        )  # fmt: skip
        gateway = GatewayClient(
            s.llm_gateway_url,
            s.require_llm_key(),
            timeout=s.gateway_timeout_s,
            max_attempts=s.gateway_max_attempts,
            deadline_s=s.gateway_timeout_s * s.gateway_max_attempts + 30,
            admit=QuotaGate(limiter, stop, give_up_s=s.rate_window_s + s.rate_margin_s),
        )
    with_api = Role.API in roles
    extra = [task] if with_api and (task := _api_task()) is not None else []
    if with_api and not extra:
        log.warning("api_unavailable", reason="services.notes.api not installed")
    try:
        await startup_check(redis, "notes", names, s.redis_url)
        await run_service(s, db, redis, gateway, stop, roles=roles, extra_tasks=extra)
    finally:
        if gateway is not None:
            await gateway.aclose()
        await redis.aclose()
        await db.dispose()


def _roles(values: list[str] | None, api: bool) -> frozenset[Role]:
    """The ``--role`` values (default all), less ``api`` with ``--no-api``; exits on none."""
    from services.notes.service import Role, parse_roles

    try:
        roles = parse_roles(values or [])
    except ValueError as err:
        fail(f"--role: {err}")
    if not api:
        roles -= {Role.API}
    if not roles:
        fail("--role api with --no-api leaves nothing to run")
    return roles


@app.command("run")
def run(
    role: list[str] | None = typer.Option(
        None,
        "--role",
        metavar="ROLE[,ROLE]",
        help="What this process runs: ingest (stream consumers, room gate), writer (note "
        "scheduler, exports, release, stream housekeeping, retention), api (staff API, "
        "console, live follows). Repeat or comma-separate; default all three.",
        show_default=False,
    ),
    api: bool = typer.Option(
        True, "--api/--no-api", help="Serve the staff API too (--no-api: drop the api role)."
    ),
    migrate_first: bool = typer.Option(
        False, "--migrate", help="Upgrade the database schema before starting."
    ),
    host: str | None = typer.Option(
        None, "--host", help="Bind address of the staff API (MEDSCRIBE_API_HOST, 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", help="Port of the staff API (MEDSCRIBE_API_PORT, 8080).", min=0, max=65535
    ),
) -> None:
    """Consume edited turns and control events, write notes, serve the staff API.

    All in one process by default; with --role, only some of it (the others run in other
    processes or containers over the same database and Redis: README, "Running the notes
    roles apart")."""
    from services.notes.db import migrate as mig
    from services.notes.db.engine import DatabaseUrlError
    from services.notes.service import Role

    roles = _roles(role, api)
    s = load_settings()
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["api_host"] = host
    if port is not None:
        overrides["api_port"] = port
    if overrides:
        s = s.model_copy(update=overrides)
    configure_logging(s.log_level, s.log_format, "notes")
    _refuse_weak_passwords(s)
    if roles & {Role.WRITER, Role.API}:  # the ingest role never calls the LLM Gateway
        try:
            s.require_llm_key()  # fail now, with the variable's name, not at the first note
        except MissingSetting as err:
            settings_error(err)
    try:
        if migrate_first:
            mig.upgrade(s.database_url)
        aio.run(_main(s, roles), use_uvloop=s.uvloop)
    except (mig.MigrationNeeded, DatabaseUrlError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"cannot reach the database or Redis: {why_unreachable(err)}")
    except Exception as err:
        fail_on_no_permission(err, s.redis_url)
        raise


# --- API tokens (`medscribe notes token create|list|revoke`) -----------------------------
@app.command("backup")
def backup_cmd(
    out: Path = typer.Argument(..., help="File to write (created owner-only, 0600)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
) -> None:
    """Write a consistent copy of the notes database (SQLite or PostgreSQL) to a file."""
    from services.notes.backup import BackupError, backup

    s = load_settings()
    try:
        info = backup(s.database_url, out, overwrite=overwrite)
    except BackupError as err:
        fail(err.for_operator())
    typer.echo(f"backup of the {info.kind} database written to {info.path} ({info.bytes} bytes)")


@app.command("restore")
def restore_cmd(
    src: Path = typer.Argument(..., help="A file written by `medscribe notes backup`."),
    yes: bool = typer.Option(
        False, "--yes", help="Confirm: the database's current contents are replaced."
    ),
) -> None:
    """Replace the notes database with a backup, then migrate it to this version's schema.

    Stop the notes service first; start it again afterwards."""
    from services.notes.backup import BackupError, restore
    from services.notes.db import migrate as mig

    if not yes:
        fail("restore replaces every encounter, note and audit row in the database: add --yes")
    s = load_settings()
    try:
        restore(s.database_url, src)
        mig.upgrade(s.database_url, "head")
    except BackupError as err:
        fail(err.for_operator())
    typer.echo(f"restored {src} into {_safe_url(s.database_url)} and migrated it to head")


@app.command("purge")
def purge_cmd(
    encounter_id: str = typer.Argument(..., help="The encounter whose patient data goes."),
    signed: bool = typer.Option(
        False, "--signed", help="Also when it has a signed note (part of the medical record)."
    ),
    yes: bool = typer.Option(False, "--yes", help="Confirm: this cannot be undone."),
) -> None:
    """Remove one encounter's transcript, notes, exported files and audio (audited).

    The encounter row and the audit log stay. Running it again finishes an interrupted purge."""
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.notes.api.token_admin import CLI_ACTOR
    from services.notes.db import repo
    from services.notes.db.engine import Database, DatabaseUrlError
    from services.notes.domain.errors import EncounterNotFound, PurgeNeedsConfirmation
    from services.notes.domain.purge import purge_encounter
    from shared.contracts import StreamNames
    from shared.streams import make_redis

    if not yes:
        fail("a purge cannot be undone: add --yes")
    s = load_settings()
    names = StreamNames(s.stream_prefix)

    async def go() -> Any:
        db = Database(s.database_url)
        redis = make_redis(s.redis_url)

        @asynccontextmanager
        async def audited() -> AsyncIterator[AsyncSession]:
            async with db.session() as session:  # the audit row commits with the purge
                yield session
                await repo.add_audit(
                    session,
                    actor=CLI_ACTOR,
                    role="admin",
                    action="encounter.purge",
                    encounter_id=encounter_id,
                    target="signed" if signed else None,
                    status=200,
                )

        try:
            # As the API route: the database commits first, then files and Redis keys go.
            return await purge_encounter(
                audited(), redis, names, s.export_dir, encounter_id, signed_ok=signed
            )
        finally:
            await redis.aclose()
            await db.dispose()

    try:
        counts = asyncio.run(go())
    except EncounterNotFound:
        fail(f"no encounter {encounter_id!r}")
    except PurgeNeedsConfirmation as err:
        fail(f"{err} (--signed)")
    except DatabaseUrlError as err:
        fail(str(err))
    except SQLAlchemyError as err:
        fail(f"the database did not take the purge ({type(err).__name__}): nothing was removed")
    except OSError as err:
        fail(f"cannot reach the database or Redis: {why_unreachable(err)}")
    except RedisError as err:
        fail(f"cannot reach Redis ({type(err).__name__})")
    typer.echo(
        f"purged {encounter_id}: {counts.turns} turns, {counts.note_versions} note versions, "
        f"{counts.export_folders} export folders, {counts.redis_keys} Redis keys"
    )


@app.command("retention")
def retention_cmd() -> None:
    """Apply the retention policy now (MEDSCRIBE_RETENTION_*); prints what it removed."""
    from services.notes.db.engine import Database, DatabaseUrlError
    from services.notes.retention import RetentionPolicy, apply_retention

    s = load_settings()
    policy = RetentionPolicy.of(s)
    if not policy.active:
        typer.echo("no retention policy is set: everything is kept (MEDSCRIBE_RETENTION_*)")
        return

    async def go() -> Any:
        db = Database(s.database_url)
        try:
            return await apply_retention(db, s.export_dir, policy)
        finally:
            await db.dispose()

    try:
        report = asyncio.run(go())
    except DatabaseUrlError as err:
        fail(str(err))
    except OSError as err:
        fail(f"cannot reach the database: {why_unreachable(err)}")
    typer.echo(
        f"retention: transcripts removed from {report.transcripts_removed} signed encounters "
        f"({report.turns_removed} turns), {report.export_folders_removed} export folders, "
        f"{report.audio_files_removed} archived audio files removed"
    )


# Self-contained block of the staff API; operates on the database directly.

from typing import Any  # noqa: E402 - kept inside this block to stay merge-friendly

token_app = typer.Typer(help="API tokens of the staff API (shown once, stored hashed).")
app.add_typer(token_app, name="token", no_args_is_help=True)


def _token_db_run(work: Any) -> Any:
    """Build NotesSettings and a Database once, run ``work(db)``, dispose."""
    from services.notes.api.token_admin import TokenAdminError
    from services.notes.db.engine import Database, DatabaseUrlError

    settings = load_settings()

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
        fail(f"cannot reach the database: {why_unreachable(err)}")


def _print_table(
    rows: Sequence[_Row], empty: str, header: str, line: Callable[[_Row], str]
) -> None:
    """A header and one line per row on stdout; ``empty`` (how to make one) when none."""
    if not rows:
        typer.echo(empty)
        return
    typer.echo(header)
    for row in rows:
        typer.echo(line(row))


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

    def line(t: TokenInfo) -> str:
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
        if t.last_used_at and not t.revoked_at:
            state += f", last used {t.last_used_at:%Y-%m-%d %H:%M}"
        return (
            f"{t.id:>4}  {t.name:<24} {t.role:<9} {t.clinician_id or '-':<16} "
            f"{t.created_at:%Y-%m-%d %H:%M:%S}  {state}"
        )

    _print_table(
        _token_db_run(token_admin.list_all),
        "no tokens; create one with `medscribe notes token create`",
        f"{'id':>4}  {'name':<24} {'role':<9} {'clinician':<16} {'created':<20} state",
        line,
    )


@token_app.command("revoke")
def token_revoke(
    name_or_id: str = typer.Argument(..., help="The token's name or id (see `token list`)."),
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    from services.notes.api import token_admin

    info = _token_db_run(lambda db: token_admin.revoke(db, name_or_id))
    typer.echo(f"revoked token {info.name!r} (id {info.id})")


room_app = typer.Typer(
    help="Exam rooms' own Redis credentials (needs MEDSCRIBE_REDIS_ADMIN_URL; README, "
    "'Room machines')."
)
app.add_typer(room_app, name="room", no_args_is_help=True)


def _room_admin_run(work: Any) -> Any:
    """Run ``work(admin_redis, names)`` with the Redis admin user; one-line failures."""
    from redis.exceptions import RedisError

    from services.notes import room_admin
    from services.notes.room_admin import RoomAdminError
    from shared.contracts import StreamNames
    from shared.streams import make_redis

    settings = load_settings()
    admin_url = settings.redis_admin_url.get_secret_value() if settings.redis_admin_url else ""
    if not admin_url:
        fail(
            "MEDSCRIBE_REDIS_ADMIN_URL is not set: managing rooms needs the Redis admin user"
            " (compose: docker compose exec -T -e MEDSCRIBE_REDIS_ADMIN_URL=... notes ...)"
        )

    async def go() -> Any:
        admin = make_redis(admin_url)
        try:
            await room_admin.reachable(admin)
            return await work(admin, StreamNames(settings.stream_prefix))
        finally:
            await admin.aclose()

    try:
        return asyncio.run(go())
    except RoomAdminError as err:
        fail(str(err))
    except (RedisError, OSError) as err:
        fail(f"Redis (admin) refused or unreachable ({type(err).__name__})")


@room_app.command("add")
def room_add(
    name: str = typer.Argument(..., help="The room, e.g. exam-3 (lower case, digits, hyphens)."),
) -> None:
    """Create a room's credentials. The password goes to stdout, once; the rest to stderr."""
    from services.notes import room_admin

    info, password = _room_admin_run(lambda r, n: room_admin.add(r, n, name))
    typer.echo(f"created room {info.name!r} (Redis user {info.user})", err=True)
    typer.echo(password)
    typer.echo(
        "Store it now: it is shown only once. On the room machine set\n"
        f"  MEDSCRIBE_ROOM={info.name}\n"
        f"  MEDSCRIBE_REDIS_URL=redis://{info.user}:<password>@<clinic server>:6379/0",
        err=True,
    )


@room_app.command("list")
def room_list() -> None:
    """List rooms (never their passwords)."""
    from services.notes import room_admin

    def line(r: RoomInfo) -> str:
        state = "active" if r.has_credentials else "no Redis user (revoke and add again)"
        return f"{r.name:<33} {r.user:<38} {r.created_at:<26} {state}"

    _print_table(
        _room_admin_run(room_admin.list_all),
        "no rooms; create one with `medscribe notes room add NAME`",
        f"{'room':<33} {'redis user':<38} {'created':<26} state",
        line,
    )


@room_app.command("revoke")
def room_revoke(name: str = typer.Argument(..., help="The room (see `room list`).")) -> None:
    """Revoke a room's credentials: its connections are closed and refused from now on."""
    from services.notes import room_admin

    info = _room_admin_run(lambda r, n: room_admin.revoke(r, n, name))
    typer.echo(f"revoked room {info.name!r} (Redis user {info.user} deleted)")
