"""`medscribe notes migrate` and the start-up checks of `medscribe notes run`, as commands."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.notes.config import NotesSettings
from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.migrate import head_revision
from shared.cli_util import why_unreachable
from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env
from tests.kit.factories import visit_messages


def notes(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*medscribe_cmd(), "notes", *args],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_up_status_down_and_run_refuses_an_old_schema(
    db_url: str, redis_url: str, tmp_path: Path
) -> None:
    if db_url.startswith("postgresql"):  # trust auth ignores it; it must never be printed
        db_url = db_url.replace("postgres@", "postgres:s3cr3t-pw-4f9a2c7e1b@")
    env = {
        "DATABASE_URL": db_url,
        "MEDSCRIBE_REDIS_URL": redis_url,
        "MEDSCRIBE_LLM_API_KEY": "k",
        "MEDSCRIBE_LLM_GATEWAY_URL": "http://127.0.0.1:9",
        "MEDSCRIBE_EXPORT_DIR": str(tmp_path),
    }
    run = notes("run", "--no-api", **env)
    assert run.returncode == 2
    assert "run `medscribe notes migrate`" in run.stderr

    up = notes("migrate", **env)
    assert up.returncode == 0, up.stderr
    head = head_revision()  # the newest migration, whichever branches added revisions
    assert f"at revision {head}" in up.stdout
    assert "s3cr3t-pw-4f9a2c7e1b" not in up.stdout + up.stderr
    status = notes("migrate", "status", **env)
    assert status.returncode == 0
    assert status.stdout.strip() == f"current {head}  head {head}"

    refused = notes("migrate", "down", "base", **env)
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    down = notes("migrate", "down", "base", "--yes", **env)
    assert down.returncode == 0, down.stderr
    assert "at revision base" in down.stdout


def test_bad_database_url_fails_with_one_clear_line(tmp_path: Path) -> None:
    result = notes("migrate", DATABASE_URL="sqlite:///x.db", MEDSCRIBE_LLM_API_KEY="k")
    assert result.returncode == 2
    assert "async driver: sqlite+aiosqlite" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_says_why_in_words_an_operator_can_act_on() -> None:
    """Nothing listens at the port: the line says so (before: 'ConnectionRefusedError'),
    for migrate and for the token commands, without a password or a traceback."""
    url = f"postgresql+asyncpg://medscribe:s3cr3t-pw@127.0.0.1:{free_port()}/medscribe"
    for args in (("migrate",), ("token", "list")):
        result = notes(*args, DATABASE_URL=url, MEDSCRIBE_LLM_API_KEY="k")
        assert result.returncode == 2, args
        assert "connection refused: nothing listens at that host and port" in result.stderr
        assert "s3cr3t" not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("err", "words"),
    [
        (socket.gaierror(-2, "Name or service not known"), "host name is not known here (DNS)"),
        (ConnectionRefusedError(111, "refused"), "connection refused"),
        (TimeoutError(), "no answer in time"),
        (PermissionError(13, "denied"), "not permitted"),
        (OSError(5, "odd"), "OSError"),
    ],
)
def test_why_unreachable_names_the_cause(err: OSError, words: str) -> None:
    assert words in why_unreachable(err)


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"MEDSCRIBE_GRACE_PERIOD_S": "-1"}, "grace_period_s"),
        ({"MEDSCRIBE_SPEAKER_ROLES": '{"A": "nurse"}'}, "speaker_roles"),
        ({"MEDSCRIBE_TIMEZONE": "Mars/Olympus"}, "timezone"),
        ({"MEDSCRIBE_SOAP_BUDGET_CHARS": "100"}, "soap_budget_chars"),
    ],
)
def test_bad_settings_are_rejected(
    env: dict[str, str], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as info:
        NotesSettings(_env_file=None)  # type: ignore[call-arg]
    assert info.value.errors()[0]["loc"] == (field,)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@db/notes")
    monkeypatch.setenv("MEDSCRIBE_SPEAKER_ROLES", '{"A": "clinician", "B": "patient"}')
    monkeypatch.setenv("MEDSCRIBE_TIMEZONE", "Europe/Berlin")
    s = NotesSettings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url == "postgresql+asyncpg://u@db/notes"
    assert s.speaker_roles == {"A": "clinician", "B": "patient"}
    assert str(s.tzinfo()) == "Europe/Berlin"
    assert (s.api_host, s.api_port, s.soap_max_tokens) == ("127.0.0.1", 8080, 1200)


def test_run_without_llm_key_names_the_variable(tmp_path: Path) -> None:
    env = subprocess_env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    for key in ("ASSEMBLYAI_API_KEY", "MEDSCRIBE_ASSEMBLYAI_API_KEY", "MEDSCRIBE_LLM_API_KEY"):
        env.pop(key, None)
    result = subprocess.run(
        [*medscribe_cmd(), "notes", "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "ASSEMBLYAI_API_KEY is not set" in result.stderr


async def test_export_command_rewrites_files(db: Database, tmp_path: Path) -> None:
    control, turns = visit_messages("exp-1", ["Any chest pain today?", "No, none at all."])
    async with db.session() as s:
        await repo.upsert_encounter_started(s, control[0])
        for turn in turns:
            await repo.upsert_turn(s, turn)
    env = {
        "DATABASE_URL": db.url,
        "MEDSCRIBE_EXPORT_DIR": str(tmp_path / "out"),
        "MEDSCRIBE_TIMEZONE": "UTC",
    }
    result = await asyncio.to_thread(notes, "export", **env)
    assert result.returncode == 0, result.stderr
    assert "exported 1 encounter(s)" in result.stdout
    text = (tmp_path / "out" / "exp-1" / "encounter_transcript_20261129_090000.txt").read_text()
    assert text.endswith(
        "[09:00:00] Speaker: Any chest pain today?\n[09:00:04] Speaker: No, none at all.\n"
    )
    missing = await asyncio.to_thread(notes, "export", "nope", **env)
    assert missing.returncode == 2
    assert "no encounter" in missing.stderr
