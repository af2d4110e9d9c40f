"""The model menu: driven with arrow keys through a pseudo terminal; never blocks otherwise."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import redis as sync_redis
from pydantic import ValidationError

from services.capture.config import CaptureSettings
from services.capture.menu import MenuCancelled, choose_model
from shared.contracts import EncounterStarted, StreamNames, decode_control
from tests.helpers.procs import medscribe_cmd, subprocess_env

MODELS = "claude-sonnet-4-6,claude-haiku-4-5-20251001,gemini-2.5-flash"
DOWN = b"\x1bOB"  # what an xterm sends for the down arrow in keypad mode (menu sets smkx)


def _controlling_tty() -> None:
    # A new session whose controlling terminal is the pty, as in a real terminal window
    # (simple-term-menu opens /dev/tty).
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _run_in_pty(args: list[str], env: dict[str, str], keys: list[bytes]) -> tuple[int, str]:
    """Run a command on a pty; send ``keys`` once the menu is drawn; return (rc, output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        args, stdin=slave, stdout=slave, stderr=slave, env=env, preexec_fn=_controlling_tty
    )
    os.close(slave)
    output = b""
    sent = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if not sent and b"gemini-2.5-flash" in output:
                time.sleep(0.5)  # let the menu switch the terminal to raw input
                for key in keys:
                    os.write(master, key)
                    time.sleep(0.1)
                sent = True
            if proc.poll() is not None and not ready:
                break
        rc = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert sent, output.decode(errors="replace")[-2000:]
    return rc, output.decode(errors="replace")


def _env(prefix: str, redis_url: str) -> dict[str, str]:
    return subprocess_env(
        MEDSCRIBE_STREAM_PREFIX=prefix,
        MEDSCRIBE_LLM_MODELS=MODELS,
        MEDSCRIBE_REDIS_URL=redis_url,
        MEDSCRIBE_LOG_LEVEL="WARNING",
        TERM="xterm",
    )


def test_arrow_keys_choose_the_model(
    tmp_path: Path,
    redis_url: str,
    names: StreamNames,
    stream_prefix: str,
    make_wav: Callable[..., tuple[Path, bytes]],
) -> None:
    path, _ = make_wav(seconds=0.5)
    args = [*medscribe_cmd(), "capture", "--file", str(path), "--speed", "max"]
    args += ["--spool-dir", str(tmp_path / "spool")]
    rc, output = _run_in_pty(args, _env(stream_prefix, redis_url), [DOWN, DOWN, b"\r"])
    assert rc == 0, output[-2000:]
    assert "Claude Haiku 4.5 - fastest Claude" in output  # human names, as the guide had
    client = sync_redis.Redis.from_url(redis_url)
    try:
        started = decode_control(client.xrange(names.control)[0][1])
    finally:
        client.close()
    assert isinstance(started, EncounterStarted)
    assert started.llm_model == "gemini-2.5-flash"
    # The terminal live view ran and told where the note will be.
    assert f"/encounters/{started.encounter_id}" in output
    assert "/v1/" not in output


def test_escape_cancels_and_records_nothing(
    tmp_path: Path,
    redis_url: str,
    names: StreamNames,
    stream_prefix: str,
    make_wav: Callable[..., tuple[Path, bytes]],
) -> None:
    path, _ = make_wav(seconds=0.5)
    args = [*medscribe_cmd(), "capture", "--file", str(path), "--speed", "max"]
    args += ["--spool-dir", str(tmp_path / "spool")]
    rc, output = _run_in_pty(args, _env(stream_prefix, redis_url), [b"\x1b"])
    assert rc == 0  # leaving the menu is a choice, not an error (as in the guide)
    assert "no model chosen" in output
    client = sync_redis.Redis.from_url(redis_url)
    try:
        assert client.xlen(names.control) == 0
    finally:
        client.close()


def test_non_interactive_run_never_shows_the_menu(
    tmp_path: Path,
    redis_url: str,
    names: StreamNames,
    stream_prefix: str,
    make_wav: Callable[..., tuple[Path, bytes]],
) -> None:
    path, _ = make_wav(seconds=0.5)
    proc = subprocess.run(
        [*medscribe_cmd(), "capture", "--file", str(path), "--speed", "max"]
        + ["--spool-dir", str(tmp_path / "spool")],
        env=_env(stream_prefix, redis_url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"LLM model claude-sonnet-4-6 (first configured" in proc.stdout
    client = sync_redis.Redis.from_url(redis_url)
    try:
        started = decode_control(client.xrange(names.control)[0][1])
    finally:
        client.close()
    assert isinstance(started, EncounterStarted)
    assert started.llm_model == "claude-sonnet-4-6"


def test_choose_model_rules() -> None:
    models = ["a", "b"]
    never: Callable[..., int | None] = lambda *_: pytest.fail("menu shown")  # noqa: E731
    assert choose_model(models, "x", interactive=True, show_menu=never) == ("x", "flag")
    assert choose_model(models, None, interactive=False, show_menu=never) == ("a", "default")
    assert choose_model(models, None, interactive=True, show_menu=lambda *_: 1) == ("b", "menu")
    with pytest.raises(MenuCancelled):
        choose_model(models, None, interactive=True, show_menu=lambda *_: None)


def test_menu_shows_names_and_descriptions_and_refuses_retired_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown: list[str] = []

    def menu(options: Sequence[str], _title: str) -> int:
        shown.extend(options)
        return 0

    labels = {"gemini-2.5-flash": "Quick one"}
    choose_model(["claude-sonnet-4-6", "gemini-2.5-flash", "my-model"], None, True, menu, labels)
    assert shown == [
        "Claude Sonnet 4.6 - balanced: careful edits, good notes  [claude-sonnet-4-6]",
        "Quick one  [gemini-2.5-flash]",
        "my-model",
    ]
    with pytest.raises(ValidationError, match="retired"):
        CaptureSettings(llm_models="claude-sonnet-4-6,claude-3-haiku-20240307")
    with pytest.raises(ValidationError, match="not offered"):
        CaptureSettings(llm_model="claude-3-5-haiku-20241022")
    monkeypatch.setenv("MEDSCRIBE_LLM_MODEL_LABELS", '{"claude-sonnet-4-6": "Sonnet"}')
    cfg = CaptureSettings()
    assert cfg.llm_model_labels == {"claude-sonnet-4-6": "Sonnet"}
