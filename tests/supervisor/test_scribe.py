"""`medscribe scribe` (issue 21, point 9): one command for one clinician, as the original
guide's script was. It runs the pipeline on this machine, records the visit in the
foreground and prints where the transcript and SOAP files are. Tested with a WAV and with
stdin; the AssemblyAI endpoints are the project's simulators."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.codec import encode, load_script, write_wav
from simulators.samples import SAMPLE_VISIT
from tests.helpers.procs import free_port, medscribe_cmd, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCALE = 8
TURNS = 6  # a short visit: the test is about the command, not the note's quality


@pytest.fixture(scope="module")
def sims() -> Iterator[tuple[int, int]]:
    stt_port, llm_port = free_port(), free_port()
    procs = [
        subprocess.Popen([*medscribe_cmd(), "sim", "stt", "--port", str(stt_port),
                          "--time-scale", str(SCALE)], env=subprocess_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([*medscribe_cmd(), "sim", "llm", "--port", str(llm_port)],
                         env=subprocess_env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    try:
        yield stt_port, llm_port
    finally:
        for p in procs:
            p.terminate()
            p.wait(20)


def _env(tmp_path: Path, redis_url: str, prefix: str, sims: tuple[int, int]) -> dict[str, str]:
    stt_port, llm_port = sims
    (tmp_path / "none.env").write_text("# no room configuration\n")
    env = subprocess_env(
        ASSEMBLYAI_API_KEY="sim-key",
        MEDSCRIBE_REDIS_URL=redis_url,
        MEDSCRIBE_STREAM_PREFIX=prefix,
        MEDSCRIBE_DATA_DIR=str(tmp_path / "data"),
        MEDSCRIBE_API_PORT=str(free_port()),
        MEDSCRIBE_STREAMING_URL=f"ws://127.0.0.1:{stt_port}/v3/ws",
        MEDSCRIBE_LLM_GATEWAY_URL=f"http://127.0.0.1:{llm_port}",
        MEDSCRIBE_PACE_FACTOR=str(SCALE),
        MEDSCRIBE_RPM_PER_MODEL="0",
        MEDSCRIBE_GRACE_PERIOD_S="15",
        MEDSCRIBE_SCHEDULER_POLL_S="0.2",
        MEDSCRIBE_HEALTH_PORT="0",
        MEDSCRIBE_CONFIG=str(tmp_path / "none.env"),
    )
    for key in ("REDIS_URL", "DATABASE_URL", "MEDSCRIBE_DATABASE_URL", "MEDSCRIBE_EXPORT_DIR",
                "MEDSCRIBE_SPOOL_DIR"):  # fmt: skip
        env.pop(key, None)
    return env


def _files(output: str) -> tuple[Path, Path]:
    transcript = re.search(r"transcript  (\S+)", output)
    note = re.search(r"SOAP note   (\S+)", output)
    assert transcript, output[-3000:]
    assert note, output[-3000:]
    return Path(transcript.group(1)), Path(note.group(1))


def _check(done: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    transcript, note = _files(output)
    exports = (tmp_path / "data" / "exports").resolve()
    assert transcript.is_relative_to(exports)
    assert note.is_relative_to(exports)
    assert transcript.read_text().strip()
    assert "Subjective" in note.read_text() or "SUBJECTIVE" in note.read_text()


def _pcm() -> bytes:
    return b"\x00" * 16000 + encode(load_script(SAMPLE_VISIT)[:TURNS])


def test_scribe_records_a_wav_and_prints_the_files(
    tmp_path: Path, redis_url: str, stream_prefix: str, sims: tuple[int, int]
) -> None:
    wav = tmp_path / "visit.wav"
    write_wav(wav, _pcm())
    done = subprocess.run(
        [*medscribe_cmd(), "scribe", "--file", str(wav), "--speed", str(SCALE),
         "--llm-model", "claude-haiku-4-5-20251001"],
        env=_env(tmp_path, redis_url, stream_prefix, sims), cwd=tmp_path,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    _check(done, tmp_path)


def test_scribe_records_stdin_and_prints_the_files(
    tmp_path: Path, redis_url: str, stream_prefix: str, sims: tuple[int, int]
) -> None:
    done = subprocess.run(
        [*medscribe_cmd(), "scribe", "--stdin", "--speed", str(SCALE),
         "--llm-model", "claude-haiku-4-5-20251001"],
        env=_env(tmp_path, redis_url, stream_prefix, sims), cwd=tmp_path,
        input=_pcm(), capture_output=True, timeout=240,
    )  # fmt: skip
    text = subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )
    _check(text, tmp_path)


def test_scribe_needs_the_assemblyai_key(tmp_path: Path) -> None:
    env = subprocess_env(MEDSCRIBE_DATA_DIR=str(tmp_path / "data"))
    env.pop("ASSEMBLYAI_API_KEY", None)
    env.pop("MEDSCRIBE_ASSEMBLYAI_API_KEY", None)
    done = subprocess.run(
        [*medscribe_cmd(), "scribe"], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "ASSEMBLYAI_API_KEY is not set" in done.stderr
