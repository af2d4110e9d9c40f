"""`medscribe sim stt|encode|decode` as real subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from shared.acibench import Dialogue, default_path
from simulators.codec import ScriptTurn, dump_script, encode
from tests.helpers.procs import medscribe_cmd, subprocess_env

FAULT_OPTIONS = (
    "--drop-every-s", "--error-after-s", "--error-code", "--new-sessions-per-min",
    "--rate-limit-code", "--max-concurrent-sessions", "--begin-delay-s", "--lookahead-s",
    "--max-session-s", "--time-scale", "--legacy-double-final", "--api-key",
)  # fmt: skip
SECRET_TEXT = "canary-phi-7731 has chest pain"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*medscribe_cmd(), "sim", *args], env=subprocess_env(COLUMNS="200"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_stt_help_documents_every_fault_option() -> None:
    out = run("stt", "--help")
    assert out.returncode == 0
    for option in FAULT_OPTIONS:
        assert option in out.stdout, option


def test_encode_then_decode_a_script(tmp_path: Path) -> None:
    script = [ScriptTurn("doctor", "any allergies ?", 800), ScriptTurn("patient", "no .", 1200)]
    dump_script(script, tmp_path / "visit.json")
    enc = run("encode", str(tmp_path / "visit.json"), "-o", str(tmp_path / "visit.wav"))
    assert enc.returncode == 0, enc.stderr
    dec = run("decode", str(tmp_path / "visit.wav"))
    assert dec.returncode == 0, dec.stderr
    assert dec.stdout.splitlines() == ["[doctor] any allergies ?", "[patient] no ."]


def test_encode_an_aci_bench_dialogue(tmp_path: Path, aci_dialogues: list[Dialogue]) -> None:
    d = aci_dialogues[1]
    path = Path(os.environ.get("MEDSCRIBE_ACI_BENCH", str(default_path())))  # as the fixture
    out = run("encode", "--aci-bench", d.encounter_id, "--csv", str(path),
              "-o", str(tmp_path / "d.wav"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    dec = run("decode", str(tmp_path / "d.wav"))
    assert dec.stdout.splitlines() == [f"[{t.speaker}] {t.text}" for t in d.turns]


def test_bad_inputs_fail_with_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{}")
    out = run("encode", str(tmp_path / "bad.json"), "-o", str(tmp_path / "x.wav"))
    assert out.returncode == 2
    assert "not a script file" in out.stderr
    assert "Traceback" not in out.stderr
    (tmp_path / "x.wav").write_bytes(b"not a wav")
    out = run("decode", str(tmp_path / "x.wav"))
    assert out.returncode == 2
    assert "cannot read" in out.stderr
    out = run("encode", "-o", str(tmp_path / "y.wav"))
    assert out.returncode == 2
    out = run("stt", "--port", "0", "--error-code", "99")
    assert out.returncode == 2
    assert "error_code must be" in out.stderr


@pytest.fixture
def stt_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [*medscribe_cmd(), "sim", "stt", "--port", "0", "--api-key", "cli-key",
         "--time-scale", "50", "--log-level", "DEBUG"],
        env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            m = re.search(r"listening on (ws://\S+)", line)
            if m:
                url = m.group(1)
                break
        assert url, "simulator did not start"
        yield proc, url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_stt_command_serves_sessions_and_logs_no_transcript(
    stt_process: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = stt_process
    pcm = encode([ScriptTurn("doctor", SECRET_TEXT)])
    auth = {"Authorization": "cli-key"}
    with connect(f"{url}?speech_model=u3-rt-pro", additional_headers=auth) as ws:
        assert json.loads(ws.recv(timeout=20))["type"] == "Begin"
        for i in range(0, len(pcm), 3200):
            ws.send(pcm[i : i + 3200].ljust(3200, b"\0"))
        ws.send(json.dumps({"type": "Terminate"}))
        msgs = [json.loads(m) for m in ws]
    assert [m["transcript"] for m in msgs if m["type"] == "Turn"] == [SECRET_TEXT]
    proc.terminate()
    logs, _ = proc.communicate(timeout=20)
    assert "stt_sim_session_closed" in logs
    assert "canary-phi" not in logs
    assert "cli-key" not in logs
