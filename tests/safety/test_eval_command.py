"""`medscribe eval aci-bench` as a subprocess on two dialogues (direct mode, the built-in
simulator as LLM, with fabrications), and its clear refusals of bad input."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers.procs import medscribe_cmd, subprocess_env


def run_eval(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = subprocess_env()
    for key in ("ASSEMBLYAI_API_KEY", "MEDSCRIBE_ASSEMBLYAI_API_KEY", "MEDSCRIBE_LLM_API_KEY"):
        clean.pop(key, None)  # no LLM configured: the command starts the simulator
    clean.update(env)
    return subprocess.run(
        [*medscribe_cmd(), "eval", "aci-bench", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def aci_path() -> Path:
    path = Path(os.environ.get("MEDSCRIBE_ACI_BENCH", "../shared/aci-bench/valid.csv"))
    if not path.is_file():
        pytest.skip("ACI-Bench validation file not available")
    return path


def test_two_dialogues_direct_with_fabrications(tmp_path: Path, aci_path: Path) -> None:
    out = tmp_path / "results"
    done = run_eval("--data", str(aci_path), "--limit", "2", "--fabricate", "0.3",
                    "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 encounters: ROUGE-1" in done.stdout
    report = json.loads((out / "aci-bench-direct-fabricate30.json").read_text())
    md = (out / "aci-bench-direct-fabricate30.md").read_text()
    o = report["overall"]
    assert o["encounters"] == 2
    assert [e["encounter_id"] for e in report["encounters"]] == ["D2N068", "D2N069"]
    assert 0.2 < o["rouge1"] < 0.8  # an extractive note shares words with the reference
    assert o["section_completeness"] == 1.0
    assert o["evidence_share"] == 1.0  # every simulator statement cites its turn
    assert o["fabricated"] > 0
    assert o["caught"] <= o["fabricated"]
    assert o["detection_rate"] >= 0.97
    assert o["false_alarm_rate"] <= 0.05
    assert o["unsupported_statements"] >= o["caught"]
    assert o["target_met"] is True
    assert "| detection_rate |" in md
    assert "| D2N069 |" in md
    # Figures only: no dialogue text reaches the report.
    first_line = aci_path.read_text().splitlines()[1][:60]
    assert first_line not in md


def test_bad_input_is_refused_with_one_line(tmp_path: Path) -> None:
    missing = run_eval("--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    wrong = run_eval("--data", str(bad), "--out", str(tmp_path))
    assert wrong.returncode == 2
    assert "is not an ACI-Bench CSV" in wrong.stderr
    share = run_eval("--fabricate", "1.5", "--out", str(tmp_path))
    assert share.returncode == 2
    keyed = run_eval("--fabricate", "0.2", "--out", str(tmp_path), ASSEMBLYAI_API_KEY="k")
    assert keyed.returncode == 2
    assert "--fabricate needs the built-in LLM simulator" in keyed.stderr
    assert not list(tmp_path.glob("*.json"))  # nothing written for a refused run


def test_one_dialogue_through_the_pipeline(tmp_path: Path, aci_path: Path) -> None:
    # The whole stack as subprocesses (tone-coded audio, STT simulator, bridge, editor,
    # notes); statements and flags come back through the staff API.
    out = tmp_path / "results"
    done = run_eval("--data", str(aci_path), "--limit", "1", "--through-pipeline",
                    "--fabricate", "0.3", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "aci-bench-through-pipeline-fabricate30.json").read_text())
    (enc,) = report["encounters"]
    assert enc["encounter_id"] == "D2N068"
    assert enc["turns"] == 73  # every dialogue line became a turn
    assert enc["evidence_share"] == 1.0
    assert enc["links"] == {"model": enc["statements"]}
    assert enc["fabricated"] > 0
    assert enc["caught"] == enc["fabricated"]
    assert enc["false_alarms"] == 0
