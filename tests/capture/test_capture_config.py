"""Settings, config file and keyterm validation: clear errors, nothing recorded on bad input."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as sync_redis

from services.capture.config import KeytermError, load_settings, read_keyterms
from shared.contracts import StreamNames
from tests.helpers.procs import medscribe_cmd, subprocess_env


def test_config_file_env_and_flags_in_priority_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("MEDSCRIBE_ROOM", "MEDSCRIBE_REDIS_URL", "REDIS_URL", "MEDSCRIBE_LLM_MODELS"):
        monkeypatch.delenv(var, raising=False)
    cfg = tmp_path / "room.env"
    cfg.write_text(
        "# exam room 3\n"
        "MEDSCRIBE_ROOM=exam-3\n"
        "MEDSCRIBE_REDIS_URL=redis://capture:s3cret@clinic:6380/0\n"
        "MEDSCRIBE_LLM_MODELS=claude-sonnet-4-6, gemini-2.5-pro\n"
        "MEDSCRIBE_SPOOL_BUDGET_BYTES=10485760\n"
    )
    s = load_settings(cfg)
    assert s.room == "exam-3"
    assert s.redis_url == "redis://capture:s3cret@clinic:6380/0"
    assert s.llm_models == ["claude-sonnet-4-6", "gemini-2.5-pro"]
    assert s.spool_budget_bytes == 10 * 1024 * 1024
    monkeypatch.setenv("MEDSCRIBE_ROOM", "exam-4")
    assert load_settings(cfg).room == "exam-4"  # env beats the file
    assert load_settings(cfg, room="exam-5", clinician=None).room == "exam-5"  # flag beats env
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_settings(tmp_path / "missing.env")


def test_default_models_are_claude_and_gemini(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDSCRIBE_LLM_MODELS", raising=False)
    models = load_settings(None).llm_models
    assert models
    assert all(m.startswith(("claude-", "gemini-")) for m in models)


def test_keyterms_file_is_read_trimmed_and_deduplicated(tmp_path: Path) -> None:
    path = tmp_path / "terms.txt"
    path.write_text("# cardiology\nmetformin\n  lisinopril  \n\nmetformin\natrial  fibrillation\n")
    assert read_keyterms(path) == ("metformin", "lisinopril", "atrial fibrillation")


def test_too_long_keyterm_names_line_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "terms.txt"
    path.write_text("metformin\n" + "x" * 51 + "\n")
    with pytest.raises(KeytermError) as err:
        read_keyterms(path)
    assert f"{path}:2" in str(err.value)
    assert "51 characters; the limit is 50" in str(err.value)


def test_too_many_keyterms_names_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "terms.txt"
    path.write_text("\n".join(f"term {i}" for i in range(101)))
    with pytest.raises(KeytermError, match="101 keyterms given; the limit is 100"):
        read_keyterms(path)
    path.write_text("\n".join(f"term {i}" for i in range(100)))
    assert len(read_keyterms(path)) == 100


def test_cli_rejects_bad_keyterms_before_recording(
    tmp_path: Path,
    redis_url: str,
    names: StreamNames,
    stream_prefix: str,
    make_wav: Callable[..., tuple[Path, bytes]],
) -> None:
    wav, _ = make_wav(seconds=0.2)
    terms = tmp_path / "terms.txt"
    terms.write_text("\n".join(f"term {i}" for i in range(150)))
    proc = subprocess.run(
        [*medscribe_cmd(), "capture", "--file", str(wav), "--speed", "max"]
        + ["--keyterms-file", str(terms), "--llm-model", "m"]
        + ["--spool-dir", str(tmp_path / "spool"), "--redis-url", redis_url],
        env=subprocess_env(MEDSCRIBE_STREAM_PREFIX=stream_prefix),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == (
        f"medscribe: {terms}: 150 keyterms given; the limit is 100"
    )
    assert b"Traceback" not in proc.stderr
    client = sync_redis.Redis.from_url(redis_url)
    try:
        assert client.xlen(names.control) == 0
    finally:
        client.close()


def test_cli_reports_bad_settings_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*medscribe_cmd(), "capture", "--file", "x.wav", "--dry-run"],
        env=subprocess_env(MEDSCRIBE_SPOOL_BUDGET_BYTES="12"),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("medscribe: invalid setting SPOOL_BUDGET_BYTES")
