"""How visits and notes word what the meaning checks compare: alcohol said as "drink",
clinicians' abbreviations ("c/o CP", "N/V", "(-)"), statements of two clauses ("ruled
out pneumonia, chest pain present") and a problem's status (resolved <-> still there).
Each class in several phrasings, with clean counterparts that must not be flagged."""

from __future__ import annotations

import pytest

from shared.evidence.assertion import mentions
from shared.evidence.meaning import VisitMeaning, meaning_findings


def kinds(turns: list[str], statement: str, section: str = "subjective") -> list[str]:
    """ "high negation" per finding of ``statement`` against ``turns``."""
    visit = VisitMeaning.of(list(enumerate(turns)))
    return [f"{f.severity} {f.kind}" for f in meaning_findings(statement, visit, section)]


def read(text: str) -> list[tuple[str, str]]:
    return [(m.concept, m.assertion) for m in mentions(text)]


# --- alcohol said as "drink" ------------------------------------------------------------

DRINKS = [
    "I drink a couple of beers a night.",
    "I drink every night.",
    "I drink socially, maybe on weekends.",
    "Yeah, I drink a glass of wine with dinner.",
    "I'll have a few drinks on the weekend.",
    "I usually have two or three drinks a night.",
    "I still drink, about a six pack on Fridays.",
]  # fmt: skip
NO_DRINK = [
    "I don't drink.",
    "I do not drink at all.",
    "No, I never drink.",
    "I haven't had a drink in years, I don't drink.",
    "I dont drink alcohol.",
    "Nope, I don't drink or smoke.",
]  # fmt: skip


@pytest.mark.parametrize("said", DRINKS)
def test_drinking_said_as_drink_is_alcohol(said: str) -> None:
    assert kinds([said], "Denies alcohol use.") == ["high negation"]
    assert kinds([said], "Denies drinking.") == ["high negation"]
    assert kinds([said], "Drinks alcohol socially.") == []


@pytest.mark.parametrize("said", NO_DRINK)
def test_not_drinking_said_as_drink_is_no_alcohol(said: str) -> None:
    assert kinds([said], "Drinks alcohol socially.") == ["high negation"]
    assert kinds([said], "Drinks 2 beers nightly.") == ["high negation"]
    assert kinds([said], "Denies alcohol use.") == []
    assert kinds([said], "Does not drink.") == []


def test_a_question_about_drinking_and_its_answer() -> None:
    assert kinds(["Do you drink?", "No."], "Drinks alcohol daily.") == ["high negation"]
    assert kinds(["How often do you drink?", "Every night."], "Drinks nightly.") == []
    assert kinds(["I used to drink a lot but I quit."], "Drinks alcohol daily.") == [
        "high temporality"
    ]
    assert kinds(["I quit drinking five years ago."], "Former drinker.") == []


@pytest.mark.parametrize(
    "said",
    [
        "I drink a lot of water.",
        "I drink coffee every morning.",
        "Make sure you drink plenty of fluids.",
        "She's been eating and drinking okay.",
        "I've been so thirsty, drinking a lot and peeing a lot.",
        "I drink two energy drinks a day.",
        "He drinks milk and juice.",
        "Drink it with a full glass of water.",
        "Is she drinking from a bottle?",
        "Drinking lots of liquids helps.",
    ],
)
def test_drinking_water_food_or_medicine_is_no_alcohol(said: str) -> None:
    assert "alcohol" not in [c for c, _ in read(said)]
    assert kinds([said], "Denies alcohol use.") == []


def test_advice_about_drinking_on_a_drug_is_no_habit() -> None:
    said = ["I have a beer now and then.", "Don't drink alcohol while you're on this antibiotic."]
    assert kinds(said, "Drinks alcohol occasionally.") == []
    assert kinds(["Do not drink with this medicine."], "Drinks socially.") == []
