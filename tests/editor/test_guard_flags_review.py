"""Pure rules of the editor: unsupported-addition guard, reply review, keyword flags."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.editor.flags import flags_for
from services.editor.review import clean_reply, review_reply
from shared.contracts import Flag
from shared.guard import drugs_in, numbers_in, unsupported_additions
from simulators.llm_behaviour import edit_turn


@pytest.mark.parametrize(
    ("source", "candidate"),
    [
        ("i take metforman five hundred milligrams", "I take metformin 500 mg."),
        ("blood pressure one fifty over ninety", "Blood pressure 150/90."),
        ("lisa nopril ten milligrams daily", "Lisinopril 10 mg daily."),
        ("one and a half tablets", "1.5 tablets."),
        ("take 2 tablets at 8", "Take two tablets at 8."),
        ("a thousand units", "1,000 units."),
        ("no numbers here at all", "No numbers here at all."),
    ],
)
def test_guard_accepts_restated_numbers_and_corrected_drugs(source: str, candidate: str) -> None:
    assert unsupported_additions(source, candidate) == []


@pytest.mark.parametrize(
    ("source", "candidate", "reasons"),
    [
        ("take your pills", "Take your 2 pills.", ["added_number"]),
        ("take your pills", "Take your two pills.", ["added_number"]),
        ("five milligrams", "500 milligrams.", ["added_number"]),
        ("hello there", "Hello there, start warfarin.", ["added_drug"]),
        ("hello", "Hello. Take 40 mg of warfarin daily.", ["added_number", "added_drug"]),
    ],
)
def test_guard_reports_additions(source: str, candidate: str, reasons: list[str]) -> None:
    assert unsupported_additions(source, candidate) == reasons


def test_guard_helpers() -> None:
    assert numbers_in("1,000 mg and 2.50 and 3") == {"1000", "2.5", "3"}
    assert drugs_in("Metformin and TYLENOL, not candy") == {"metformin", "tylenol"}


@given(st.text(alphabet=st.characters(codec="ascii", categories=["L", "N", "P", "Zs"])))
def test_simulator_edits_never_trip_the_guard(text: str) -> None:
    # The simulator's documented corrections only restate: the guard must agree.
    assert unsupported_additions(text, edit_turn(text)) == []


def test_review_outcomes() -> None:
    original = "i take metforman twice a day"
    edited = review_reply(original, "I take metformin twice a day.")
    assert (edited.status, edited.text, edited.reason) == (
        "edited",
        "I take metformin twice a day.",
        None,
    )
    assert review_reply(original, f"  {original} ").status == "unchanged"
    assert review_reply(original, "   ").reason == "empty_reply"
    assert review_reply(original, "x" * 200).reason == "reply_too_long"
    cut = review_reply(original, "I take", finish_reason="length")
    assert cut.reason == "truncated_reply"
    fabricated = review_reply(original, "I take metformin 500 mg twice a day.")
    assert (fabricated.status, fabricated.text) == ("fallback", original)
    assert fabricated.reason == "added_number"


def test_clean_reply_strips_wrappers() -> None:
    assert clean_reply("<turn>\n Hello there. \n</turn>") == "Hello there."
    assert clean_reply('"Hello there."') == "Hello there."
    assert clean_reply("Hello\n  there.") == "Hello there."


def test_flags() -> None:
    flags = flags_for("I have chest pain and a cough; I take Metformin for my diabetes.")
    assert flags == (
        Flag(kind="symptom", term="chest pain"),
        Flag(kind="symptom", term="cough"),
        Flag(kind="medication", term="metformin"),
        Flag(kind="diagnosis", term="diabetes"),
    )
    # Each term once; longest match wins; no partial words ("painting", "coughing").
    assert flags_for("Pain, pain and more pain while painting.") == (
        Flag(kind="symptom", term="pain"),
    )
    assert flags_for("High blood pressure, shortness of breath.") == (
        Flag(kind="diagnosis", term="high blood pressure"),
        Flag(kind="symptom", term="shortness of breath"),
    )
    assert flags_for("") == ()


@pytest.mark.parametrize(
    ("text", "kind", "term"),
    [
        ("I'll prescribe it for you.", "medication", "prescribe"),
        ("The dosage stays the same.", "medication", "dosage"),
        ("Take 40mg of it.", "medication", "mg"),
        ("Take one tablet daily.", "medication", "daily"),
        ("Her main complaint is the knee.", "symptom", "complaint"),
        ("We can diagnose that today.", "diagnosis", "diagnose"),
        ("My impression is a sprain.", "diagnosis", "impression"),
    ],
)
def test_flags_keep_the_guides_keywords(text: str, kind: str, term: str) -> None:
    """The live view's flags stay a superset of the original guide's keyword lists."""
    assert Flag(kind=kind, term=term) in flags_for(text)  # type: ignore[arg-type]
