"""The after-visit summary's reply format and its check against the signed note (pure)."""

from __future__ import annotations

import pytest

from services.notes.summary import (
    SummaryFormatError,
    check_summary,
    parse_summary,
    render_summary,
)
from shared.evidence import open_high_flags
from shared.prompts import build_summary_messages
from simulators.llm_summary import FABRICATED_INSTRUCTION, summary_answer

NOTE = {
    "subjective": ["Dry cough for two weeks."],
    "objective": ["Lungs with scattered wheezes."],
    "assessment": ["Probable reactive airway disease."],
    "plan": ["Trial of albuterol inhaler.", "Follow up in two weeks."],
}
REPLY = """Why you came in:
- You had a dry cough for two weeks.
What we found:
- Your lungs had some wheezing.
What to do next:
- Try the albuterol inhaler.
- Nothing to add.
"""


def test_a_good_reply_parses_and_renders() -> None:
    sections = parse_summary(REPLY)
    assert sections == {
        "reason": ["You had a dry cough for two weeks."],
        "findings": ["Your lungs had some wheezing."],
        "next_steps": ["Try the albuterol inhaler."],
    }
    assert render_summary(sections).startswith("Why you came in:\n- You had")


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "Here is your summary: you are fine.",
        "Sure!\n" + REPLY,  # chatter before the first section
        REPLY.replace("What we found:", "Findings:"),  # a section missing
        "Why you came in:\n- Nothing to add.\nWhat we found:\n- Nothing to add.\n"
        "What to do next:\n- Nothing to add.",  # empty
    ],
)
def test_a_bad_reply_is_refused_without_its_text(reply: str) -> None:
    with pytest.raises(SummaryFormatError) as err:
        parse_summary(reply)
    assert "summary:" not in str(err.value)
    assert "Sure" not in str(err.value)


def test_the_check_flags_only_what_the_signed_note_does_not_say() -> None:
    request = build_summary_messages(NOTE, ["Patient called: cough resolved."])
    honest = parse_summary(summary_answer(request[-1]["content"]))
    evidence = check_summary(honest, NOTE, ["Patient called: cough resolved."])
    assert open_high_flags(evidence) == 0
    assert {st["section"] for st in evidence} == {"reason", "findings", "next_steps"}
    invented = parse_summary(summary_answer(request[-1]["content"], fabricate=True))
    flagged = check_summary(invented, NOTE, [])
    bad = [st for st in flagged if any(f["severity"] == "high" for f in st["flags"])]
    assert [st["text"] for st in bad] == [FABRICATED_INSTRUCTION]
    assert bad[0]["id"].startswith("next_steps-")
