"""A frequency that changes the dose: every way of writing how often (spelled out, Latin
abbreviations with and without dots, "every N hours", "qNh", ranges, "as needed") is read
as doses a day, tied to its drug or dose, and compared with what the visit said."""

from __future__ import annotations

import pytest

from shared.evidence import build_evidence
from shared.evidence.frequency import frequencies, normalise, statement_dosings
from shared.evidence.meaning import VisitMeaning, edit_flips, meaning_findings


def per_day(text: str) -> list[tuple[tuple[float, float] | None, bool]]:
    return [(f.per_day, f.prn) for _, _, f in frequencies(normalise(text))]


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("once daily", 1), ("once a day", 1), ("daily", 1), ("every day", 1), ("qd", 1),
        ("q.d.", 1), ("every morning", 1), ("at bedtime", 1), ("nightly", 1), ("qhs", 1),
        ("twice daily", 2), ("twice a day", 2), ("two times a day", 2), ("BID", 2),
        ("b.i.d.", 2), ("every 12 hours", 2), ("every twelve hours", 2), ("q12h", 2),
        ("2x/day", 2), ("2 times per day", 2),
        ("three times a day", 3), ("TID", 3), ("t.i.d.", 3), ("every 8 hours", 3),
        ("every eight hours", 3), ("q8h", 3), ("q 8 h", 3), ("thrice daily", 3),
        ("four times a day", 4), ("QID", 4), ("q.i.d.", 4), ("every 6 hours", 4),
        ("every six hours", 4), ("q6h", 4), ("q.6.h.", 4), ("every 6 hrs", 4),
        ("every 4 hours", 6), ("q4h", 6), ("every other day", 0.5), ("qod", 0.5),
        ("every 3 days", 1 / 3), ("every other week", 1 / 14), ("every 2 weeks", 1 / 14),
        ("every other month", 1 / 60), ("every 3 months", 1 / 90), ("every six months", 1 / 180),
    ],
)  # fmt: skip
def test_every_way_of_writing_a_rate(text: str, rate: float) -> None:
    assert per_day(f"Take it {text}.") == [((rate, rate), False)]


def test_ranges_weeks_and_as_needed() -> None:
    assert per_day("two puffs every 4 to 6 hours") == [((4, 6), False)]
    assert per_day("q4-6h prn") == [((4, 6), True)]
    assert per_day("once a week") == per_day("weekly") == [((1 / 7, 1 / 7), False)]
    assert per_day("Tylenol as needed") == [(None, True)]
    assert per_day("every six hours if you have pain") == [((4, 4), True)]
    assert per_day("PRN, every 8 hours") == [((3, 3), True)]
    assert per_day("I smoke a pack a day")[0][0] == (1, 1)  # read, but tied to no drug


def test_each_frequency_goes_with_its_drug_and_dose() -> None:
    read = [(d.drug, d.frequency.per_day, sorted(d.doses)) for d in statement_dosings(
        "Lisinopril 10 mg daily and metformin 500 mg BID. Tylenol q6h PRN.")]  # fmt: skip
    assert read == [
        ("lisinopril", (1, 1), [("mg", "10")]),
        ("metformin", (2, 2), [("mg", "500")]),
        ("acetaminophen", (4, 4), []),
    ]


def findings(turns: list[str], statement: str) -> list[str]:
    visit = VisitMeaning.of(list(enumerate(turns)))
    return [f"{f.severity} {f.kind} | {f.message}" for f in meaning_findings(
        statement, visit, "plan") if f.kind == "dose"]  # fmt: skip


def test_the_issue_example_dose_by_weight_written_once_daily() -> None:
    turns = ["That's fourteen milligrams per kilo per day, so ninety eight milligrams twice a day."]
    assert findings(turns, "98 mg once daily.") == [
        "high dose | dose changed by the frequency (said: twice a day)"
    ]
    assert findings(turns, "98 mg BID.") == []
    assert findings(turns, "98 mg every 12 hours.") == []


@pytest.mark.parametrize(
    ("said", "same", "changed"),
    [
        ("Take the amoxicillin five hundred three times a day.", "Amoxicillin 500 mg q8h.",
         "Amoxicillin 500 mg every 12 hours."),
        ("Tylenol every six hours for the fever.", "Acetaminophen QID.",
         "Acetaminophen every 8 hours."),
        ("The methotrexate is once a week.", "Methotrexate weekly.", "Methotrexate daily."),
        ("Albuterol every four to six hours as needed.", "Albuterol q4h PRN.",
         "Albuterol q12h PRN."),
        ("Keep the glargine at bedtime.", "Glargine nightly.", "Glargine b.i.d."),
    ],
)  # fmt: skip
def test_same_rate_is_silent_another_rate_is_high(said: str, same: str, changed: str) -> None:
    assert findings([said], same) == []
    assert [f.split(" |")[0] for f in findings([said], changed)] == ["high dose"]


def test_an_answer_without_the_drug_name_is_that_drugs_frequency() -> None:
    turns = ["How often do you take the metformin?", "Twice a day, with meals."]
    assert findings(turns, "Metformin twice daily.") == []
    assert findings(turns, "Metformin once daily.") == [
        "high dose | dose changed by the frequency (said: metformin twice a day)"
    ]


def test_a_visit_that_changed_the_frequency_supports_both() -> None:
    turns = ["You were on the metoprolol once a day, let's go to twice a day."]
    assert findings(turns, "Increase metoprolol to twice daily.") == []
    assert findings(turns, "Metoprolol was once daily.") == []
    assert findings(turns, "Metoprolol three times daily.") != []


def test_scheduling_what_was_said_as_needed_is_medium_the_reverse_silent() -> None:
    turns = ["Only use the tramadol as needed for bad pain."]
    assert findings(turns, "Tramadol every 6 hours.") == [
        "medium dose | dose changed by the frequency (said: tramadol as needed)"
    ]
    assert findings(["Ibuprofen every six hours."], "Ibuprofen as needed.") == []
    turns = ["The oxycodone every four hours, but only if you need it."]
    assert findings(turns, "Oxycodone every 4 hours as needed.") == []
    assert [f.split(" |")[0] for f in findings(turns, "Oxycodone every 4 hours.")] == [
        "medium dose"
    ]


@pytest.mark.parametrize(
    "said",
    [
        "Just lisinopril 10 milligrams once a day and albuterol as needed.",
        "Lisinopril once a day, and the albuterol inhaler as needed.",
        "I take lisinopril daily and Tylenol as needed.",
    ],
)
def test_as_needed_of_the_next_drug_is_not_the_first_drugs(said: str) -> None:
    """Before, the "as needed" of the drug named after joined lisinopril's "once a day",
    and "Continue lisinopril 10 mg daily." was a medium dose flag (a false alarm)."""
    assert findings([said], "Continue lisinopril 10 mg daily.") == []
    assert findings([said], "Lisinopril as needed.") == []
    assert [f.split(" |")[0] for f in findings([said], "Lisinopril twice daily.")] == ["high dose"]


def test_frequencies_unrelated_to_a_drug_are_not_compared() -> None:
    turns = ["I walk every day.", "I get headaches twice a week."]
    assert findings(turns, "Start ibuprofen 400 mg three times a day.") == []


def test_in_the_note_the_dose_flag_replaces_the_frequency_term_flag() -> None:
    turns = [(0, "Take the amoxicillin twice a day."), (1, "Okay.")]
    [st] = [s for s in build_evidence({"plan": ["Amoxicillin once daily."]}, turns) if s["flags"]]
    assert [(f["kind"], f["severity"]) for f in st["flags"]] == [("dose", "high")]
    assert st["flags"][0]["message"] == (
        "dose changed by the frequency (said: amoxicillin twice a day)"
    )


def test_the_edit_guard_rejects_a_changed_frequency() -> None:
    # No drug named in the turn: the frequencies still compare (shared/evidence/polarity.py).
    assert edit_flips("take it uh twice a day", "Take it once a day.") == ["changed_frequency"]
    assert edit_flips("amoxicillin uh twice a day", "Amoxicillin once a day.") == [
        "changed_frequency"
    ]
    assert edit_flips("amoxicillin uh twice a day", "Amoxicillin twice a day.") == []


@pytest.mark.parametrize(
    ("said", "statement", "expected"),
    [
        ("take the metformin in the morning and at night", "Metformin BID.", []),
        ("take the metformin twice a day", "Metformin in the morning and at night.", []),
        ("take the metformin in the morning and in the evening", "Metformin twice daily.", []),
        # the day's total, not each part, is what was said
        ("take the metformin in the morning and at night", "Metformin daily.",
         ["high dose | dose changed by the frequency (said: metformin in the morning and at "
          "night)"]),
        ("take the metformin once a day", "Metformin in the morning and at night.",
         ["high dose | dose changed by the frequency (said: metformin once a day)"]),
        # two drugs, one time of day each: no total
        ("take metformin in the morning and lisinopril at night",
         "Metformin daily. Lisinopril nightly.", []),
    ],
)  # fmt: skip
def test_times_of_day_for_one_drug_add_up(said: str, statement: str, expected: list[str]) -> None:
    """Before, "Metformin BID." against "in the morning and at night" was a high false alarm
    (each part read as once a day) and "Metformin daily." passed (it matched a part)."""
    assert findings([said], statement) == expected
