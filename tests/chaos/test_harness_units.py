"""The suite's own checks must be able to fail: the log grep finds a leaked sentence, and
the summary lands between the markers of the doc without touching the prose around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.acibench import Dialogue, DialogueTurn
from shared.contracts import StreamNames
from tests.chaos import report
from tests.chaos.harness import ChaosStack, Visit

SENTENCE = "the patient reports chest pain for three days"


def stack_with_visit(tmp_path: Path) -> ChaosStack:
    s = ChaosStack(tmp_path, "redis://unused", StreamNames("x:"), "sqlite+aiosqlite:///x")
    d = Dialogue("D1", (DialogueTurn("doctor", SENTENCE), DialogueTurn("patient", "ok")), "")
    s.visits.append(Visit(d, "r", tmp_path / "r.wav", b"", tmp_path / "sp", tmp_path / "c.log"))
    return s


def test_log_grep_finds_a_leaked_sentence(tmp_path: Path) -> None:
    s = stack_with_visit(tmp_path)
    s.logs.line("editor-1", '{"event": "x", "text": "' + SENTENCE + '"}')
    with pytest.raises(AssertionError, match="editor-1.log"):
        s.assert_no_phi_in_logs()


def test_log_grep_passes_clean_logs_and_sees_wrapped_text(tmp_path: Path) -> None:
    s = stack_with_visit(tmp_path)
    s.logs.line("notes", '{"event": "note_stored", "encounter_id": "D1"}')
    s.assert_no_phi_in_logs()
    (tmp_path / "extra.log").write_text(SENTENCE.replace(" for ", "\n for "))
    with pytest.raises(AssertionError, match="extra.log"):
        s.assert_no_phi_in_logs(extra=[tmp_path / "extra.log"])


def test_summary_replaces_only_the_marked_block(tmp_path: Path) -> None:
    doc = tmp_path / "r.md"
    doc.write_text(f"intro\n{report.START}\nold\n{report.END}\noutro\n")
    row = report.Row("kill", "n", 2, 10, 9, 1, 2, [0.5, 1.25], "failed")
    report.write_doc([row], soak=False, doc=doc)
    text = doc.read_text()
    assert text.startswith("intro\n")
    assert text.endswith("\noutro\n")
    assert "old" not in text
    assert _cells(text, "kill")[:8] == ["kill", "2", "10", "9", "1", "2", "1.2", "failed"]

    # A later session with another scenario keeps this row and adds its own.
    report.write_doc([report.Row("redis", "m", 1, 5, 5, 0, 1, [], "passed")], True, doc)
    text = doc.read_text()
    assert _cells(text, "kill")[7] == "failed"
    assert _cells(text, "redis")[:8] == ["redis", "1", "5", "5", "0", "1", "-", "passed"]
    assert _cells(text, "redis")[8].endswith("soak")
    assert len([x for x in text.splitlines() if x.startswith("| scenario")]) == 1


def _cells(text: str, scenario: str) -> list[str]:
    line = next(x for x in text.splitlines() if x.startswith(f"| {scenario} "))
    return [c.strip() for c in line.strip().strip("|").split("|")]
