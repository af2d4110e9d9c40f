"""How visits and notes word what the meaning checks compare: alcohol said as "drink",
clinicians' abbreviations ("c/o CP", "N/V", "(-)"), statements of two clauses ("ruled
out pneumonia, chest pain present") and a problem's status (resolved <-> still there).
Each class in several phrasings, with clean counterparts that must not be flagged."""

from __future__ import annotations

import pytest

from shared.evidence.assertion import mentions
from shared.evidence.meaning import VisitMeaning, edit_flips, meaning_findings


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
    "I have a beer or two on weekends.",
    "I have a glass of wine every night.",
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
    assert kinds(["Do you drink alcohol?", "Socially."], "Denies alcohol use.") == ["high negation"]
    assert kinds(["Do you drink alcohol?", "Only on weekends."], "Denies alcohol use.") == [
        "high negation"
    ]


@pytest.mark.parametrize(
    "said",
    ["I like root beer.", "Avoid beer and red meat for the gout.", "Red wine vinegar is fine."],
)
def test_beer_and_wine_not_drunk_are_no_alcohol(said: str) -> None:
    assert kinds([said], "Denies alcohol use.") == []


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


# --- clinicians' abbreviations ---------------------------------------------------------

DENIED_CHEST_PAIN = ["No, I haven't had any chest pain."]
HAS_CHEST_PAIN = ["I've been having chest pain on and off for two days."]


@pytest.mark.parametrize(
    "statement",
    ["Pt c/o CP.", "C/O CP x2 days.", "Pt c/o chest pain.", "CP (+).", "(+) CP.", "CP pos.",
     "Positive for CP.", "Reports CP.", "Pos: CP.", "Pt c/o SOB and CP.", "CP: yes."],
)  # fmt: skip
def test_abbreviated_chest_pain_affirmed(statement: str) -> None:
    assert kinds(DENIED_CHEST_PAIN, statement) == ["high negation"]
    assert kinds(HAS_CHEST_PAIN, statement) == []


@pytest.mark.parametrize(
    "statement",
    ["CP (-).", "(-) CP.", "CP neg.", "Neg for CP.", "Denies CP.", "No CP.", "Pt w/o CP.",
     "CP: neg", "CP negative.", "No c/o CP.", "CP/SOB: denies.", "Neg: CP, SOB.", "CP: none.",
     "\u00d8 CP."],
)  # fmt: skip
def test_abbreviated_chest_pain_denied(statement: str) -> None:
    assert kinds(HAS_CHEST_PAIN, statement) == ["high negation"]
    assert kinds(DENIED_CHEST_PAIN, statement) == []


@pytest.mark.parametrize(
    ("said", "statement", "concepts"),
    [
        ("I get short of breath walking up the stairs.", "Denies SOB.", ["shortness of breath"]),
        ("I've been throwing up and I feel sick to my stomach, nauseous.", "Denies N/V.",
         ["nausea", "vomiting"]),
        ("I've had a headache every day this week.", "Denies HA.", ["headache"]),
        ("I've had a headache every day this week.", "No h/a.", ["headache"]),
        ("I had a heart attack two years ago.", "Denies h/o MI.", ["heart attack"]),
        ("I drink a six pack every night.", "Denies EtOH.", ["alcohol"]),
        ("I've got high blood pressure.", "No h/o HTN.", ["hypertension"]),
    ],
)  # fmt: skip
def test_abbreviated_findings_read_like_spelled_out(
    said: str, statement: str, concepts: list[str]
) -> None:
    assert kinds([said], statement) == ["high negation"] * len(concepts)
    assert [c for c, _ in read(statement)] == concepts


def test_abbreviations_agree_with_what_was_said() -> None:
    assert kinds(["No nausea or vomiting."], "Denies N/V.") == []
    assert kinds(["I threw up twice and I'm still nauseous."], "+N/V.") == []
    assert kinds(["I had a heart attack two years ago."], "H/o MI.") == []
    assert kinds(["I had a heart attack two years ago."], "S/p MI 2 years ago.") == []
    assert kinds(["No headaches."], "HA: neg.") == []
    assert kinds(["No chest pain, no trouble breathing."], "Denies CP/SOB.") == []
    assert kinds(["I get short of breath on the stairs."], "Denies CP/SOB.") == ["high negation"]
    assert kinds(["I've had thoughts of suicide."], "Denies SI/HI.") == ["high negation"]
    assert kinds(["I have chest pain but no shortness of breath."], "CP (+), SOB (-).") == []
    assert kinds(["I have chest pain but no shortness of breath."], "CP (-), SOB (+).") == [
        "high negation",
        "high negation",
    ]
    # Shown as written: the clinician sees their abbreviation.
    visit = VisitMeaning.of([(0, "No chest pain.")])
    assert [f.term for f in meaning_findings("Pt c/o CP.", visit)] == ["cp"]


@pytest.mark.parametrize(
    "said",
    ["Ha, yeah, that's funny.", "Ha ha, no.", "I have a CPAP machine.", "My cp score was low.",
     "Sob story, I know.", "She started to sob.", "Plan HA injection to the left knee.",
     "LOC: alert and oriented.", "SI joint tenderness."],
)  # fmt: skip
def test_words_that_only_look_like_abbreviations_are_no_findings(said: str) -> None:
    assert read(said) == []


# --- statements of two clauses ------------------------------------------------------------

TWO_CLAUSES = [
    ("Ruled out pneumonia, chest pain present.", "pneumonia", "chest pain"),
    ("Pneumonia ruled out, chest pain present.", "pneumonia", "chest pain"),
    ("No fever, cough present.", "fever", "cough"),
    ("Denies fever, cough noted.", "fever", "cough"),
    ("Negative for fever; cough present.", "fever", "cough"),
    ("No pneumonia, chest pain is present.", "pneumonia", "chest pain"),
    ("No rash, itching present.", "rash", "itching"),
    ("Denies fever, admits to cough.", "fever", "cough"),
    ("Without fever, with cough.", "fever", "cough"),
    ("No fever, persistent cough.", "fever", "cough"),
    ("Chest pain denied, shortness of breath confirmed.", "chest pain", "shortness of breath"),
    ("Fever absent, cough present.", "fever", "cough"),
    ("Cough noted, fever absent.", "fever", "cough"),
    ("Chest pain present, pneumonia ruled out.", "pneumonia", "chest pain"),
]  # fmt: skip


@pytest.mark.parametrize(("statement", "denied", "affirmed"), TWO_CLAUSES)
def test_each_clause_is_read_on_its_own(statement: str, denied: str, affirmed: str) -> None:
    assert sorted(read(statement)) == sorted([(denied, "negated"), (affirmed, "present")])
    # Against a visit that denied the second finding, the note's affirmation is flagged...
    said = [f"No {denied}.", f"I don't have any {affirmed}."]
    assert kinds(said, statement) == ["high negation"]
    # ... and against one that said both as the note does, nothing is.
    assert kinds([f"No {denied}.", f"I do have {affirmed}."], statement) == []


@pytest.mark.parametrize(
    "statement",
    [
        "No fever, chills or night sweats present.",
        "No edema, cyanosis, or clubbing present.",
        "Denies fever, chills, cough.",
        "No fever, chills, and no cough noted.",
    ],
)
def test_a_list_of_denials_stays_denied(statement: str) -> None:
    assert {a for _, a in read(statement)} == {"negated"}


def test_who_it_is_about_is_read_in_the_whole_sentence() -> None:
    assert read("My mother has diabetes, hypertension noted.") == [
        ("diabetes", "present"), ("hypertension", "present"),
    ]  # fmt: skip
    assert [m.experiencer for m in mentions("My mother has diabetes, hypertension noted.")] == [
        "family", "family",
    ]  # fmt: skip


# --- a problem's status: resolved <-> still there ------------------------------------------

RESOLVED_NOTES = [
    "Cough: resolved.", "Cough, now resolved.", "Cough resolved.", "The cough has resolved.",
    "Cough has now resolved.",
    "Cough no longer present.", "Resolved cough.", "Cough went away.", "Cough is gone.",
    "No longer has a cough.", "Cough cleared up.", "Cough has subsided.",
    "Resolution of cough.",
]  # fmt: skip
ONGOING_NOTES = [
    "Cough persists.", "Persistent cough.", "Ongoing cough.", "Cough is ongoing.",
    "Cough continues.", "Still has a cough.", "Cough remains.", "Continued cough.",
    "Cough has not resolved.", "Cough is still present.", "Lingering cough.",
    "Coughing persists.", "Cough remains unresolved.",
]  # fmt: skip
STILL_SAID = [
    "The cough came back.", "The cough has been going on for three weeks.",
    "I still have the cough.", "The cough is still there.", "The cough hasn't gone away.",
    "I'm still coughing.", "The cough just won't go away.", "The cough is still bad.",
    "My cough is much better but still there.",
    "That cough never went away.", "The cough never really went away.",
    "The cough hasn't gotten any better.", "The cough keeps coming back.",
]  # fmt: skip
GONE_SAID = [
    "The cough went away.", "The cough finally cleared.", "My cough is gone.",
    "The cough has resolved.",
    "The cough cleared up last week.", "I had a cough but it went away.",
    "The cough finally stopped.", "I don't have the cough anymore, it went away.",
    "Yeah, the cough is all gone now.", "The cough isn't there anymore.",
    "The cough is no longer there.", "My cough is better, actually it's gone.",
    "No more cough since I started the inhaler.", "The cough has been gone for a week.",
    "My cough is completely gone.",
]  # fmt: skip


@pytest.mark.parametrize("statement", RESOLVED_NOTES)
@pytest.mark.parametrize("said", STILL_SAID)
def test_resolved_in_the_note_where_the_visit_said_it_persists(said: str, statement: str) -> None:
    assert kinds([said], statement) == ["high negation"]


@pytest.mark.parametrize("statement", ONGOING_NOTES)
@pytest.mark.parametrize("said", GONE_SAID)
def test_persisting_in_the_note_where_the_visit_said_it_resolved(said: str, statement: str) -> None:
    assert kinds([said], statement) == ["high negation"]


@pytest.mark.parametrize("statement", RESOLVED_NOTES + ["Denies cough.", "Had a cough."])
@pytest.mark.parametrize("said", GONE_SAID)
def test_resolved_agrees_with_resolved(said: str, statement: str) -> None:
    assert kinds([said], statement) == []


@pytest.mark.parametrize("statement", ONGOING_NOTES + ["Reports cough."])
@pytest.mark.parametrize("said", STILL_SAID)
def test_persisting_agrees_with_persisting(said: str, statement: str) -> None:
    assert kinds([said], statement) == []


@pytest.mark.parametrize(
    ("said", "statement"),
    [
        (["I had a cough last week."], "Cough resolved."),  # the visit cannot tell
        (["No cough."], "Cough resolved."),
        (["I had a cough last week."], "Cough persists."),
        (["The fever went away but I still have the cough."], "Fever resolved, cough persists."),
        (["The fever went away but I still have the cough."], "Persistent cough."),
        (["I went away for the weekend and got a cough."], "Ongoing cough."),
        (["The fever broke last night."], "Fever resolved."),
        (["The rash broke out on Monday."], "Rash persists."),
        (["I stopped, the cough is still there."], "Persistent cough."),
        (["Has the cough gone away?", "No, it's still there."], "Persistent cough."),
    ],
)
def test_status_words_that_agree_or_cannot_tell(said: list[str], statement: str) -> None:
    assert kinds(said, statement) == []


def test_plain_affirmation_of_what_resolved_asks_for_a_look() -> None:
    """ "Reports cough." where the visit said only that it went away: a reviewer should
    look (medium), not a contradiction (the note may tell the history)."""
    assert kinds(["The cough went away."], "Reports cough.") == ["medium negation"]
    visit = VisitMeaning.of([(0, "I still have the cough.")])
    assert [f.message for f in meaning_findings("Cough resolved.", visit)] == [
        "said: ongoing cough"
    ]


def test_the_edit_guard_keeps_a_problems_status() -> None:
    assert edit_flips("the rash went away", "I have a rash.") == ["flipped_negation"]
    assert "flipped_negation" in edit_flips("the cough is still there", "The cough resolved.")
    assert edit_flips("the rash went away", "The rash went away.") == []
    assert edit_flips("um i still have the cough", "I still have the cough.") == []


@pytest.mark.parametrize(
    ("turns", "statement"),
    [
        (["How's the cough?", "It's still there."], "Cough resolved."),
        (["How's the cough doing?", "Oh, it went away last week."], "Cough persists."),
        (["And the headaches?", "I still get them, a couple times a week."], "Headaches resolved."),
        (["Any more nausea?", "No, I don't have it anymore."], "Ongoing nausea."),
    ],
)  # fmt: skip
def test_a_status_said_of_it_in_the_answer(turns: list[str], statement: str) -> None:
    """ "How's the cough?" / "It's still there.": the status is the asked concept's."""
    assert kinds(turns, statement) == ["high negation"]


@pytest.mark.parametrize(
    ("turns", "statement"),
    [
        (["How's the cough?", "It's still there."], "Persistent cough."),
        (["How's the cough doing?", "Oh, it went away last week."], "Cough resolved."),
        (["How's the rash?", "Better, I think."], "Rash resolved."),
        (["Any fever or cough?", "It's still there."], "Cough resolved."),  # which one?
    ],
)
def test_a_status_of_it_that_agrees_or_cannot_be_placed(turns: list[str], statement: str) -> None:
    assert kinds(turns, statement) == []


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("CP -ve.", [("chest pain", "negated")]), ("CP (neg).", [("chest pain", "negated")]),
        ("Cough +ve.", [("cough", "present")]), ("Cough (pos).", [("cough", "present")]),
        ("Nil CP.", [("chest pain", "negated")]), ("PMH: HTN.", [("hypertension", "historical")]),
    ],
)  # fmt: skip
def test_more_signs_of_denial_and_affirmation(
    statement: str, expected: list[tuple[str, str]]
) -> None:
    assert read(statement) == expected


@pytest.mark.parametrize("statement", ["FHx: MI.", "FH of MI.", "Fam hx of MI."])
def test_family_history_abbreviated_is_the_familys(statement: str) -> None:
    assert [m.experiencer for m in mentions(statement)] == ["family"]
    assert kinds(["My father had a heart attack at 60."], statement) == []
    assert kinds(["I had a heart attack last year."], statement) == ["high experiencer"]


@pytest.mark.parametrize(
    ("said", "habit"),
    [("I don't smoke anymore.", "smoker"), ("I no longer smoke.", "smoker"),
     ("I don't drink anymore, I quit two years ago.", "drinker"),
     ("I don't really drink any more.", "drinker")],
)  # fmt: skip
def test_a_habit_given_up_reads_as_quit(said: str, habit: str) -> None:
    """ "I don't smoke anymore" is a former smoker, as "I quit" is (before, "Former smoker."
    against it was a high negation flag)."""
    assert kinds([said], f"Former {habit}.") == []
    assert kinds([said], f"Current {habit}.") == ["high temporality"]
