"""The suite's own checks must be able to fail: the log grep finds a leaked sentence, the
summary lands between the markers of the doc without touching the prose around it, and
what a killed capture agent's visit is expected to say is what the STT simulator says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from services.stt_bridge.chunker import Rechunker
from shared.acibench import Dialogue, DialogueTurn
from shared.contracts import StreamNames
from simulators.codec import ScriptTurn, decode, encode
from simulators.stt_server import SttSimConfig, start_stt_simulator
from tests.chaos import report
from tests.chaos.harness import PAUSE_MS, ChaosStack, Visit, transcript_of

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


def test_a_results_file_updates_the_doc_only_on_purpose(tmp_path: Path) -> None:
    """A run saves its rows to a results file; the command copies them into the doc with
    the run's own time stamp and soak flag, and refuses a file that is not one."""
    doc = tmp_path / "r.md"
    doc.write_text(f"intro\n{report.START}\n{report.END}\noutro\n")
    results = tmp_path / "out" / "results.json"
    row = report.Row("kill", "n", 4, 64, 63, 1, 4, [2.5], "failed")
    report.save_results([row], True, results)
    assert doc.read_text() == f"intro\n{report.START}\n{report.END}\noutro\n"
    _rows, soak, stamp = report.load_results(results)
    assert soak

    assert report.main([str(results), "--doc", str(doc)]) == 0
    cells = _cells(doc.read_text(), "kill")
    assert cells == ["kill", "4", "64", "63", "1", "4", "2.5", "failed", f"{stamp} soak"]

    before = doc.read_text()
    (tmp_path / "bad.json").write_text('{"rows": "x"}')
    assert report.main([str(tmp_path / "bad.json"), "--doc", str(doc)]) == 2
    assert report.main([str(tmp_path / "missing.json"), "--doc", str(doc)]) == 2
    (tmp_path / "plain.md").write_text("no markers\n")
    assert report.main([str(results), "--doc", str(tmp_path / "plain.md")]) == 2
    assert doc.read_text() == before
    assert (tmp_path / "plain.md").read_text() == "no markers\n"


async def test_a_visit_cut_anywhere_expects_what_the_stt_simulator_transcribes() -> None:
    """The kill of a capture agent lands at any 50 ms frame; the stack then transcribes the
    audio up to there (the STT simulator's final at Terminate; the bridge strips it and
    skips empty ones). The harness's expectation for that audio must match it, including
    cuts just after a space or a speaker header (the "last turn differs" flake)."""
    script = [ScriptTurn("dr.", "okay then , tell me", PAUSE_MS), ScriptTurn("patient", "ok", 0)]
    pcm = encode(script)
    frame = 1600  # the capture agent's 50 ms frames, the unit a kill leaves in Redis
    cuts = range(frame, len(pcm), frame)
    raw = {cut: [t.text for t in decode(pcm[:cut])] for cut in cuts}
    # The script must reach the windows that broke the old expectation.
    assert any(texts and texts[-1].endswith(" ") for texts in raw.values())
    assert any(texts and texts[-1] == "" for texts in raw.values())
    async with await start_stt_simulator(SttSimConfig(time_scale=100.0)) as sim:
        for cut in cuts:
            got = await _sim_transcript(sim.url, pcm[:cut])
            assert transcript_of(pcm[:cut]) == got, (cut, raw[cut])


async def _sim_transcript(url: str, pcm: bytes) -> list[str]:
    """Finals of one U3 session fed ``pcm`` as the bridge does (its re-chunker, Terminate)."""
    query = "speech_model=u3-rt-pro&min_turn_silence=800&max_turn_silence=2000"
    chunker = Rechunker(16000, 100)
    chunker.feed(pcm)
    out: list[str] = []
    async with connect(f"{url}?{query}", additional_headers={"Authorization": "sim-key"}) as ws:
        for chunk in chunker.take_final():
            await ws.send(chunk)
        await ws.send(json.dumps({"type": "Terminate"}))
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "Turn" and msg["end_of_turn"] and msg["transcript"].strip():
                    out.append(msg["transcript"].strip())
        except ConnectionClosed:
            pass
    assert ws.close_code == 1000
    return out


def _cells(text: str, scenario: str) -> list[str]:
    line = next(x for x in text.splitlines() if x.startswith(f"| {scenario} "))
    return [c.strip() for c in line.strip().strip("|").split("|")]
