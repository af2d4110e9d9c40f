"""Issue 20 item 1: placeholder, short or reused passwords stop the start, with one line
naming the variable (never the password): the notes service and the Redis entrypoint."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from shared.secret_rules import check_passwords, url_password
from tests.helpers.procs import REPO_ROOT, medscribe_cmd, subprocess_env

GOOD = "3f9c1a7e5b2d8f60"
OTHER = "a81e4c0d9b7f2365"


def test_rules() -> None:
    assert check_passwords({"A": GOOD, "B": OTHER, "C": None}) == []
    assert check_passwords({"A": "change-me"})[0].startswith("A: the password is a placeholder")
    assert "shorter than 16" in check_passwords({"A": "Tr0ub4dor&3"})[0]
    assert "not random" in check_passwords({"A": "a" * 20})[0]
    reused = check_passwords({"A": GOOD, "B": GOOD})
    assert reused == ["B: the password is the same as A's; use one per service"]
    assert url_password(f"redis://notes:{GOOD}@redis:6379/0") == GOOD
    assert url_password("redis://127.0.0.1:6379/0") is None
    assert url_password("sqlite+aiosqlite:///notes.db") is None


@pytest.mark.parametrize(
    ("redis_password", "db_password", "variable"),
    [
        ("change-me", OTHER, "MEDSCRIBE_REDIS_URL"),
        (GOOD, "short-pw", "MEDSCRIBE_DATABASE_URL"),
        (GOOD, GOOD, "MEDSCRIBE_DATABASE_URL"),
    ],
    ids=["placeholder", "short", "reused"],
)
def test_notes_refuses_to_start(
    tmp_path: Path, redis_password: str, db_password: str, variable: str
) -> None:
    env = subprocess_env(
        MEDSCRIBE_REDIS_URL=f"redis://notes:{redis_password}@127.0.0.1:1/0",
        MEDSCRIBE_DATABASE_URL=f"postgresql+asyncpg://medscribe:{db_password}@127.0.0.1:1/m",
        DATABASE_URL=f"postgresql+asyncpg://medscribe:{db_password}@127.0.0.1:1/m",
        MEDSCRIBE_LLM_API_KEY="k",
        MEDSCRIBE_EXPORT_DIR=str(tmp_path),
    )
    run = subprocess.run(
        [*medscribe_cmd(), "notes", "run", "--no-api"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"medscribe: {variable}: the password")
    assert redis_password not in run.stderr
    assert db_password not in run.stderr


def _entrypoint(**passwords: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update({f"MEDSCRIBE_REDIS_PASSWORD_{k.upper()}": v for k, v in passwords.items()})
    return subprocess.run(
        ["sh", str(REPO_ROOT / "deploy" / "redis-entrypoint.sh"), "true"],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


FIVE = {
    "admin": "0a1b2c3d4e5f6a7b8c",
    "capture": "1b2c3d4e5f6a7b8c9d",
    "bridge": "2c3d4e5f6a7b8c9d0e",
    "editor": "3d4e5f6a7b8c9d0e1f",
    "notes": "4e5f6a7b8c9d0e1f2a",
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"bridge": "change-me"}, "MEDSCRIBE_REDIS_PASSWORD_BRIDGE is a placeholder"),
        ({"notes": "0123456789"}, "MEDSCRIBE_REDIS_PASSWORD_NOTES is shorter than 16"),
        (
            {"editor": FIVE["capture"]},
            "MEDSCRIBE_REDIS_PASSWORD_EDITOR is the same as MEDSCRIBE_REDIS_PASSWORD_CAPTURE",
        ),
    ],
    ids=["placeholder", "short", "reused"],
)
def test_redis_entrypoint_refuses_weak_passwords(change: dict[str, str], expected: str) -> None:
    done = _entrypoint(**{**FIVE, **change})
    assert done.returncode == 2
    assert expected in done.stderr
    assert next(iter(change.values())) not in done.stderr


def test_redis_entrypoint_accepts_five_strong_passwords() -> None:
    done = _entrypoint(**FIVE)
    # Past the checks; outside the image it then stops at the missing ACL template.
    assert "medscribe-redis:" not in done.stderr
    assert "users.acl.template" in done.stderr
