"""Checking SOAP replies, splitting long transcripts, speaker roles, transcript lines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notes import soap_prompt
from services.notes.db.models import Encounter, Turn
from services.notes.soap import split_lines
from services.notes.soap_format import (
    SoapFormatError,
    SoapNote,
    merge_mechanically,
    parse_soap,
    render,
)
from services.notes.speakers import SpokenTurn, display_name, guess_roles, resolve_roles
from services.notes.transcript import lines_of, render_body, render_file
from shared.prompts import SOAP_MARKER

GOOD = """Subjective:
- Cough for two weeks.
- Takes metformin 500 mg twice daily.

Objective:
- Lungs clear.

Assessment:
- Viral bronchitis.

Plan:
- Rest and fluids.
"""


def test_good_note_parses_to_canonical_form() -> None:
    note = parse_soap(GOOD)
    assert note.sections["subjective"] == [
        "Cough for two weeks.",
        "Takes metformin 500 mg twice daily.",
    ]
    assert note.text == GOOD
    assert parse_soap(note.text) == note


def test_markdown_headings_fences_and_wrapped_bullets_are_tolerated() -> None:
    reply = (
        "```\n## **Subjective:**\n* Cough\n  that is worse at night\n**Objective:**\n"
        "1. Temp 37.2\nASSESSMENT\n- Bronchitis\nPlan:\n• Fluids\n```"
    )
    note = parse_soap(reply)
    assert note.sections == {
        "subjective": ["Cough that is worse at night"],
        "objective": ["Temp 37.2"],
        "assessment": ["Bronchitis"],
        "plan": ["Fluids"],
    }


def test_empty_section_is_allowed() -> None:
    note = parse_soap("Subjective:\n- a\nObjective:\nAssessment:\n- b\nPlan:\n- c")
    assert note.sections["objective"] == []


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("Here is the note:\n" + GOOD, "before the Subjective"),
        (GOOD.replace("Objective:", "Objectiv:"), "not a bullet"),
        (GOOD.replace("Plan:\n- Rest and fluids.\n", ""), "missing section(s): Plan"),
        ("Objective:\n- x\nSubjective:\n- y\nAssessment:\n- z\nPlan:\n- w", "out of order"),
        (GOOD + "\nPlan:\n- again", "appears twice"),
        (GOOD + "\nLet me know if you need anything else.", "not a bullet in the Plan"),
        ("Subjective: cough\nObjective:\nAssessment:\nPlan:", "own line"),
        ("Subjective:\nObjective:\nAssessment:\nPlan:\n", "all four sections are empty"),
        ("", "missing section(s): Subjective, Objective, Assessment, Plan"),
    ],
)
def test_malformed_replies_name_the_problem_without_quoting(reply: str, problem: str) -> None:
    with pytest.raises(SoapFormatError) as info:
        parse_soap(reply)
    assert problem in str(info.value)
    assert "fluids" not in str(info.value).lower()
    assert "cough" not in str(info.value).lower()


def test_mechanical_merge_keeps_every_distinct_bullet_in_order() -> None:
    a = SoapNote({"subjective": ["x", "y"], "objective": [], "assessment": ["a"], "plan": []})
    b = SoapNote({"subjective": ["y", "z"], "objective": ["o"], "assessment": [], "plan": ["p"]})
    merged = merge_mechanically([a, b])
    assert merged.sections == {
        "subjective": ["x", "y", "z"],
        "objective": ["o"],
        "assessment": ["a"],
        "plan": ["p"],
    }
    empty = SoapNote(
        {"subjective": ["Not discussed."], "objective": [], "assessment": [], "plan": []}
    )
    assert merge_mechanically([empty, empty]).sections["plan"] == ["Not discussed."]
    assert merge_mechanically([empty, a]).sections["subjective"] == ["x", "y"]
    assert render(merged.sections).startswith("Subjective:\n- x\n- y\n- z\n\nObjective:")


def test_split_lines_respects_budget_and_keeps_everything() -> None:
    lines = [f"[00:00:{i:02d}] Patient: " + "word " * (i % 7 + 1) for i in range(300)]
    lines.append("x" * 2500)  # one line longer than the budget is cut, not dropped
    chunks = split_lines(lines, 1000)
    assert all(len("\n".join(c)) <= 1000 for c in chunks)
    assert "".join("".join(c) for c in chunks) == "".join(lines)
    assert len(chunks) > 5


def test_speaker_roles_guess_config_and_correction() -> None:
    turns = [
        SpokenTurn("A", "Hi, how are you doing today? Any pain?"),
        SpokenTurn("B", "Not great, my knee has been hurting for a week or so now."),
        SpokenTurn("A", "On a scale of one to ten? I'm going to prescribe ibuprofen 400 mg."),
        SpokenTurn("B", "About a six, it gets worse when I climb the stairs at home."),
        SpokenTurn(None, "(noise)"),
    ]
    assert guess_roles(turns) == {"A": "clinician", "B": "patient"}
    # the clinic's fixed mapping beats the guess; a stored correction beats both
    assert resolve_roles(turns, None, {"A": "patient", "B": "clinician"}) == {
        "A": "patient",
        "B": "clinician",
    }
    assert resolve_roles(turns, {"A": "other"}, {})["A"] == "other"
    assert display_name("A", {"A": "clinician"}) == "Clinician"
    assert display_name("C", {}) == "Speaker C"
    assert display_name(None, {}) == "Speaker"


def test_transcript_lines_in_the_guides_format_with_gap_marker() -> None:
    enc = Encounter(id="e1", room="2", started_at=datetime(2026, 5, 4, 9, 30, tzinfo=UTC))
    turns = [
        Turn(seq=2, speaker="B", start_ms=65_000, original_text="x", edited_text="It hurts."),
        Turn(seq=0, speaker="A", start_ms=1_500, original_text="hello  there", edited_text=None),
    ]
    lines = lines_of(enc, turns, {"A": "clinician", "B": "patient"}, UTC)
    body = render_body(lines, [1, 3])
    assert body == [
        "[09:30:01] Clinician: hello there",
        "[--:--:--] (missing: 1 turn(s) not received: 1)",
        "[09:31:05] Patient: It hurts.",
        "[--:--:--] (missing: 1 turn(s) not received: 3)",
    ]
    text = render_file(enc, lines, [1, 3], UTC)
    assert text.startswith("Clinical Encounter Transcript\nDate: 2026-05-04 09:30:00\n")
    assert "=" * 80 in text


def test_prompt_is_the_guides_with_roles_and_a_named_retry() -> None:
    msgs = soap_prompt.soap_messages(
        "Clinician: Take metformin 500 mg twice daily.", has_roles=True
    )
    system, user = msgs[0]["content"], msgs[1]["content"]
    assert system.startswith(SOAP_MARKER)
    assert soap_prompt.GUIDE_CLINICIAN_PROMPT in system
    assert "Include medications with dosage and frequency if mentioned." in system
    assert "Subjective:\n- ...\n\nObjective:" in system
    assert "Clinician or Patient" in user
    assert "<transcript>\nClinician: Take metformin" in user
    retry = soap_prompt.retry_messages(msgs, "missing section(s): Plan")
    assert retry[:-1] == msgs[:-1]
    assert retry[-1]["content"].startswith(user)
    assert "missing section(s): Plan" in retry[-1]["content"]
