"""The simulator's meaning fabrications: each is made only where it is false, and the
checker flags it high."""

from __future__ import annotations

from shared.evidence.lexicon import DRUG_NAMES
from shared.evidence.meaning import VisitMeaning, meaning_findings
from simulators import llm_fabricate_meaning as meaning


def flagged_high(turns: list[str], statement: str) -> bool:
    visit = VisitMeaning.of(list(enumerate(turns)))
    return any(f.severity == "high" for f in meaning_findings(statement, visit, "plan"))


def test_each_kind_is_made_and_caught() -> None:
    turns = ["I've had a cough for a week.", "My father had a stroke.",
             "We will continue the lisinopril.", "I quit smoking years ago."]  # fmt: skip
    transcript = " ".join(turns)
    made = {
        "negation": meaning.flip_negation(turns[0], transcript),
        "experiencer": meaning.swap_experiencer(turns[1], transcript),
        "action": meaning.reverse_action(turns[2], transcript, DRUG_NAMES),
        "temporality": meaning.flip_temporality(turns[3], transcript),
    }
    assert made == {
        "negation": "I've had a cough for a week; denies cough.",
        "experiencer": "the patient had a stroke.",
        "action": "We will stop the lisinopril.",
        "temporality": "Currently smokes.",
    }
    for new in made.values():
        assert new is not None
        assert flagged_high(turns, new), new


def test_no_fabrication_that_would_be_true() -> None:
    transcript = "Any fever? No fever. I do have a cough. Stop the lisinopril."
    assert meaning.flip_negation("Has a fever.", transcript) is None  # denied: would be true
    assert meaning.reverse_action("Continue lisinopril.", transcript, DRUG_NAMES) is None
    assert meaning.swap_experiencer("Any fever?", "Any fever?") is None  # only asked
