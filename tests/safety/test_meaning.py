"""Meaning-aware checks: assertion and experiencer of concepts (medspaCy ConText),
medication actions and allergies, in the note checker, the per-turn flags and the edit
guard; plus no transcript text in any log while they run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from services.editor.flags import denied, flags_for, present
from services.editor.review import review_reply
from shared.contracts import Flag
from shared.evidence import build_evidence
from shared.evidence.actions import drug_actions
from shared.evidence.allergy import allergies
from shared.evidence.assertion import mentions
from shared.evidence.meaning import VisitMeaning, edit_flips, meaning_findings


def read(text: str) -> list[tuple[str, str, str]]:
    return [(m.concept, m.assertion, m.experiencer) for m in mentions(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No fever and no chest pain.",
         [("fever", "negated", "patient"), ("chest pain", "negated", "patient")]),
        ("No fever but has cough.",
         [("fever", "negated", "patient"), ("cough", "present", "patient")]),
        ("No fever, has a cough.",
         [("fever", "negated", "patient"), ("cough", "present", "patient")]),
        ("Denies fever, positive for cough.",
         [("fever", "negated", "patient"), ("cough", "present", "patient")]),
        ("Negative for chest pain.", [("chest pain", "negated", "patient")]),
        ("No history of heart attack.", [("heart attack", "negated", "patient")]),
        ("I have never smoked.", [("smoking", "negated", "patient")]),
        ("I quit smoking ten years ago.", [("smoking", "historical", "patient")]),
        ("Possible pneumonia.", [("pneumonia", "possible", "patient")]),
        ("If you get a fever, call us.", [("fever", "hypothetical", "patient")]),
        ("Any fever or chills?", [("fever", "asked", "patient"), ("chills", "asked", "patient")]),
        ("My father had a heart attack at 50.", [("heart attack", "present", "family")]),
        ("Mother has diabetes.", [("diabetes", "present", "family")]),
        ("Patient reports fever and chest pain.",
         [("fever", "present", "patient"), ("chest pain", "present", "patient")]),
    ],
)  # fmt: skip
def test_assertion_and_experiencer(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert read(text) == expected


def findings(turns: list[str], statement: str, section: str = "subjective") -> list[str]:
    visit = VisitMeaning.of(list(enumerate(turns)))
    return [f"{f.severity} {f.kind} {f.term} | {f.message}" for f in meaning_findings(
        statement, visit, section)]  # fmt: skip


def test_the_issues_four_fabrications_are_high_flags_with_what_was_said() -> None:
    assert findings(["No fever and no chest pain."], "Patient reports fever and chest pain.") == [
        "high negation fever | said: no fever",
        "high negation chest pain | said: no chest pain",
    ]
    assert findings(
        ["My father had a heart attack at 50."], "Patient had a heart attack at age 50."
    ) == ["high experiencer heart attack | said: family: heart attack"]
    assert findings(["I have never smoked."], "Patient is a current smoker.") == [
        "high negation smoker | said: no smoking"
    ]
    assert findings(
        ["We will stop lisinopril and start losartan."], "Continue lisinopril.", "plan"
    ) == ["high action lisinopril | said: stop lisinopril"]


def test_words_that_deny_by_themselves_and_more_concepts() -> None:
    """ "afebrile" is "no fever" and "non-smoker" "no smoking", both ways; pregnancy and
    suicidal thoughts are concepts whose denial a note must keep."""
    assert findings(["I've had a fever of 101 since Tuesday."], "Patient is afebrile.") == [
        "high negation afebrile | said: fever"
    ]
    assert findings(["No fever."], "Patient is afebrile.") == []
    assert findings(["I smoke a pack a day."], "Non-smoker.") == [
        "high negation non-smoker | said: smoking"
    ]
    assert findings(["I don't smoke."], "Non-smoker.") == []
    assert findings(["I'm not pregnant."], "Patient is pregnant.") == [
        "high negation pregnant | said: no pregnancy"
    ]
    assert findings(
        ["I've never had thoughts of hurting myself."], "Reports suicidal ideation."
    ) == ["high negation suicidal ideation | said: no suicidal thoughts"]
    assert findings(["I'm pregnant, about ten weeks."], "Pregnant, about 10 weeks.") == []


NO_ANSWERS = [
    "No.", "Nope.", "Nah.", "Not really.", "I don't think so.", "Not that I know of.",
    "Not that I've noticed.", "No, not at all.", "Never.", "None.", "Negative.", "Uh, no.",
    "Um no I haven't", "I haven't.", "I have not.", "No ma'am.", "Not at all.",
    "Absolutely not.", "Definitely not.", "Nothing like that.", "Haven't noticed any.",
    "I wouldn't say so.", "Not lately.", "Well, not recently.",
]  # fmt: skip
YES_ANSWERS = [
    "Yes.", "Yeah, a little.", "Uh, yeah.", "Mm-hmm.", "Sometimes.", "Occasionally.",
    "Definitely.", "I do.", "Every now and then.", "Absolutely.", "I did.",
    "Only when I climb stairs.", "Just at night.", "It's mostly in the morning.",
    "On and off.", "Off and on for a week.", "All the time.", "Every day.", "Kind of.",
    "I think so.", "Here and there.", "From time to time.", "At times.", "Lately, yeah.",
]  # fmt: skip


@pytest.mark.parametrize("answer", NO_ANSWERS)
def test_every_way_to_answer_no_denies_what_was_asked(answer: str) -> None:
    assert findings(["Any fever or chills?", answer], "Patient reports fever.") == [
        "high negation fever | said: no fever"
    ]


@pytest.mark.parametrize("answer", YES_ANSWERS)
def test_every_way_to_answer_yes_affirms_what_was_asked(answer: str) -> None:
    assert findings(["Any fever or chills?", answer], "Patient denies fever.") == [
        "high negation fever | said: fever"
    ]


@pytest.mark.parametrize(
    "answer",
    ["Lately I've been really tired at work.", "Every day I walk the dog, that's all."],
)
def test_a_long_turn_that_starts_like_a_yes_answers_nothing(answer: str) -> None:
    assert findings(["Any fever or chills?", answer], "Patient denies fever.") == []


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Doctor: Any fever or chills?", "Patient: No."),
        ("[doctor] any fever or chills?", "[patient] nope , none at all ."),
        ("Dr.: Any fever?", "Pt: Not that I know of."),
        ("Speaker A: Any fever or chills?", "Speaker B: No."),
    ],
)
def test_a_turn_written_with_its_speaker_is_read_without_the_label(
    question: str, answer: str
) -> None:
    """Transcripts pasted or exported with labels: before, "Patient: No." was no answer
    (a bare answer is read at the start of what was said), so "Reports fever." passed."""
    assert findings([question, answer], "Patient reports fever.") == [
        "high negation fever | said: no fever"
    ]
    assert findings(["Patient: No fever, but I've had a cough."], "Reports fever.") == [
        "high negation fever | said: no fever"
    ]
    assert findings(["Patient: No fever, but I've had a cough."], "Reports cough.") == []


@pytest.mark.parametrize(
    "statement",
    [
        "Patient denies chest pain.",
        "Negative for chest pain.",
        "No evidence of chest pain.",
        "Reports no chest pain.",
        "Without chest pain.",
        "No complaints of chest pain.",
        "Chest pain: none.",
        "Absence of chest pain.",
        "Denied chest pain.",
        "Chest pain ruled out.",
        "Chest pain excluded.",
        "Chest pain absent.",
        "Chest pain is denied.",
        "Chest pain not present.",
        "Has not had chest pain.",
    ],
)
def test_every_way_a_note_denies_contradicts_what_was_said(statement: str) -> None:
    said = ["I've been having chest pain for two days."]
    assert [f.split(" |")[0] for f in findings(said, statement)] == ["high negation chest pain"]
    assert findings(["No chest pain."], statement) == []


def test_restatements_are_not_flagged() -> None:
    assert findings(["No fever and no chest pain."], "Denies fever and chest pain.") == []
    assert findings(["My father had a heart attack."], "Family history of heart attack.") == []
    assert findings(["I quit smoking ten years ago."], "Former smoker.") == []
    assert findings(["Stop the Lasix for now."], "Hold furosemide.", "plan") == []
    assert findings(["Any fever?", "No."], "Denies fever.") == []
    # A concept nobody mentioned is not this check's business (the term checks have it).
    assert findings(["My knee hurts."], "No fever.") == []


def test_question_and_bare_answer_is_a_denial() -> None:
    assert findings(["Any fever?", "No."], "Reports fever.") == [
        "high negation fever | said: no fever"
    ]
    assert findings(["Any nausea?", "Yeah, a little."], "Denies nausea.") == [
        "high negation nausea | said: nausea"
    ]


def test_temporality_of_habits_is_a_high_flag() -> None:
    assert findings(["I quit smoking ten years ago."], "Current smoker.") == [
        "high temporality smoker | said: past smoking"
    ]


def test_medication_actions_per_drug() -> None:
    actions = [(a.drug, a.action) for a in drug_actions(
        "We will stop lisinopril and start losartan. I'm going to switch you from "
        "metoprolol to carvedilol. Don't stop the aspirin. Increase Lasix to 40 mg.")]  # fmt: skip
    assert actions == [
        ("lisinopril", "stop"), ("losartan", "start"), ("metoprolol", "stop"),
        ("carvedilol", "start"), ("aspirin", "continue"), ("furosemide", "change"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "said",
    [
        "Go ahead and stop taking the ibuprofen.",
        "I'm no longer taking the ibuprofen.",
        "I stopped taking ibuprofen last week.",
        "I quit taking the ibuprofen.",
        "Stop using the ibuprofen.",
    ],
)
def test_stop_taking_is_a_stop_not_a_continue(said: str) -> None:
    assert [(a.drug, a.action) for a in drug_actions(said)] == [("ibuprofen", "stop")]
    assert findings([said], "Continue ibuprofen.", "plan") == [
        f"high action ibuprofen | said: {drug_actions(said)[0].text}"
    ]


def test_plan_starting_a_drug_the_patient_is_allergic_to() -> None:
    assert allergies("I'm allergic to penicillin.")["amoxicillin"] == "penicillin"
    assert allergies("I'm not allergic to anything, not even penicillin.") == {}
    assert findings(["I'm allergic to penicillin."], "Start amoxicillin.", "plan") == [
        "high allergy amoxicillin | allergy: penicillin"
    ]
    # Only the plan prescribes: a history line naming the drug is not an allergy flag.
    assert findings(["I'm allergic to penicillin."], "Took amoxicillin as a child.") == []


def test_build_evidence_puts_meaning_flags_first_and_drops_noise() -> None:
    turns = [(0, "No fever and no chest pain."), (1, "I have type 2 diabetes."),
             (2, "Take Tylenol as needed, 500 mg three times a day.")]  # fmt: skip
    ev = build_evidence(
        {"subjective": ["Patient reports fever.", "Type 2 diabetes."],
         "plan": ["Tylenol 500 mg three times a day as needed."]}, turns)  # fmt: skip
    by_id = {s["id"]: s["flags"] for s in ev}
    assert [(f["severity"], f["kind"], f["message"]) for f in by_id["subjective-0"]] == [
        ("high", "negation", "said: no fever")
    ]
    assert by_id["subjective-1"] == []  # "2" of "type 2" is a name, not a number
    assert by_id["plan-0"] == []  # "as needed", "three times a day": no noise


def test_turn_flags_show_present_and_denied_apart() -> None:
    flags = flags_for("No fever and no chest pain, but I do have a cough.")
    assert present(flags) == (Flag(kind="symptom", term="cough"),)
    assert [f.term for f in denied(flags)] == ["fever", "chest pain"]
    assert flags_for("Any chest pain?") == ()  # a question is not a finding
    assert flags_for("My mother has diabetes.") == ()  # nor a family member's problem
    assert flags_for("Call us if you get a fever.") == ()


def test_edit_guard_rejects_flipped_negation_or_action() -> None:
    assert edit_flips("uh no fever", "Fever.") == ["flipped_negation"]
    assert edit_flips("we'll stop the lisinopril", "We'll continue the lisinopril.") == [
        "flipped_action"
    ]
    assert edit_flips("um my dad had a heart attack", "I had a heart attack.") == [
        "flipped_negation"
    ]
    assert edit_flips("uh no fever", "No fever.") == []
    review = review_reply("we will stop the lisinopril", "We will continue the lisinopril.")
    assert (review.status, review.reason, review.text) == (
        "fallback", "flipped_action", "we will stop the lisinopril",
    )  # fmt: skip
    kept = review_reply("um we will stop the lisinopril", "We will stop the lisinopril.")
    assert kept.status == "edited"


CANARY = "Zebulon Quixote-Marchetti"


def test_no_transcript_text_reaches_any_log() -> None:
    """Every logger open at DEBUG (stdlib logging and loguru's own stderr handler), the
    checks run on a sentence carrying a canary name, and medspaCy's default pipeline (with
    the PyRuSH splitter that logs each token) runs too: the canary is in no output."""
    script = textwrap.dedent(
        f"""
        import logging, sys
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
        from shared.evidence.assertion import pipeline, mentions
        from shared.evidence import build_evidence
        from services.editor.flags import flags_for
        text = "{CANARY} says no fever and no chest pain."
        pipeline()
        assert mentions(text)
        flags_for(text)
        build_evidence({{"subjective": ["{CANARY} reports fever."]}}, [(0, text)])
        import medspacy
        doc = medspacy.load()(text)  # PyRuSH included: it logs through loguru at DEBUG
        assert len(list(doc.sents)) == 1
        print("done")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("done")
    output = done.stdout + done.stderr
    assert CANARY.lower() not in output.lower()
    assert "quixote" not in output.lower()


@pytest.mark.parametrize(
    ("said", "statement"),
    [
        ("I haven't noticed any blood in my stool.", "Reports blood in stool."),
        ("I get winded going up stairs.", "Denies shortness of breath."),
        ("I have some chest pressure when I walk.", "Denies chest pain."),
        ("I've been losing weight without trying.", "Denies weight loss."),
        ("I've put on weight since the new job.", "Denies weight gain."),
        ("I have trouble falling asleep most nights.", "Denies insomnia."),
        ("I'm worn out all the time.", "Denies fatigue."),
        ("I feel queasy after meals.", "Denies nausea."),
        ("I've had loose stools for three days.", "Denies diarrhea."),
        ("I get a racing heart at night.", "Denies palpitations."),
        ("I blacked out in the kitchen.", "Denies fainting."),
        ("There's no family history of heart disease.", "Family history of heart disease."),
        ("No heartburn at all.", "Reports heartburn."),
    ],
)
def test_spoken_names_of_a_concept_are_that_concept(said: str, statement: str) -> None:
    """Before, each of these named no concept, so the note's opposite passed unflagged."""
    flags = findings([said], statement)
    assert len(flags) == 1, flags
    assert flags[0].startswith("high negation"), flags


@pytest.mark.parametrize(
    ("said", "statement", "expected"),
    [
        ("Your temperature is 101.2.", "Afebrile.",
         ["high negation afebrile | said: temperature 101.2 (fever)"]),
        ("Your temperature is one hundred and one point two.", "Patient is afebrile.",
         ["high negation afebrile | said: temperature one hundred and one point two (fever)"]),
        ("Temp today is 38.6.", "Afebrile.",
         ["high negation afebrile | said: temperature 38.6 (fever)"]),
        ("Your temperature is 98.6.", "Febrile.",
         ["high negation febrile | said: temperature 98.6 (no fever)"]),
        ("Your temperature is 98.6.", "Afebrile.", []),
        ("Your temperature is 101.2.", "Fever to 101.2.", []),
        # another person's, or two readings in one turn: nothing is read from the number
        ("My wife's temperature was 101.", "Afebrile.", []),
        ("Last week I had a temperature of 101, today you're at 98.4.", "Afebrile today.", []),
    ],
)  # fmt: skip
def test_a_measured_temperature_says_whether_there_is_a_fever(
    said: str, statement: str, expected: list[str]
) -> None:
    """Before, "Afebrile." passed against "your temperature is 101.2" (no word said fever)."""
    assert findings([said], statement) == expected


@pytest.mark.parametrize(
    ("said", "statement", "expected"),
    [
        ("Your heart rate is 118.", "Not tachycardic.",
         "high negation tachycardic | said: heart rate 118 (tachycardia)"),
        ("Your heart rate is seventy two.", "Patient is tachycardic.",
         "high negation tachycardic | said: heart rate seventy two (no tachycardia)"),
        ("Your pulse is 52.", "No bradycardia.",
         "high negation bradycardia | said: heart rate 52 (bradycardia)"),
        ("Pulse is about eighty.", "Bradycardic.",
         "high negation bradycardic | said: heart rate eighty (no bradycardia)"),
        ("Your oxygen is 86 percent on room air.", "No hypoxia.",
         "high negation hypoxia | said: oxygen saturation 86 (hypoxia)"),
        ("Sat ninety eight on room air.", "Hypoxemic.",
         "high negation hypoxemic | said: oxygen saturation ninety eight (no hypoxia)"),
        ("Your blood pressure is 84 over 50.", "Not hypotensive.",
         "high negation hypotensive | said: blood pressure 84/50 (hypotension)"),
        ("Your blood pressure is one thirty two over eighty four.", "Hypotensive.",
         "high negation hypotensive | said: blood pressure one thirty two/eighty four "
         "(no hypotension)"),
        ("Respiratory rate is 28.", "Not tachypneic.",
         "high negation tachypneic | said: respiratory rate 28 (tachypnea)"),
    ],
)  # fmt: skip
def test_a_measured_vital_sign_says_whether_its_finding_is_there(
    said: str, statement: str, expected: str
) -> None:
    """Before, "Tachycardic." passed against "heart rate 72": no word said tachycardia."""
    assert findings([said], statement) == [expected]


@pytest.mark.parametrize(
    ("said", "statement"),
    [
        ("Your heart rate is 118.", "Tachycardic."),
        ("Heart rate 72.", "Heart rate regular, no tachycardia."),
        ("Your oxygen is 98 percent.", "No hypoxia on room air."),
        # the band around a threshold, where clinicians differ: nothing is read
        ("Your heart rate is 98.", "Tachycardic."),
        ("Your heart rate is 62.", "Bradycardic."),
        ("Your oxygen is 92 percent.", "Hypoxic."),
        ("Your oxygen is 92 percent.", "No hypoxia."),
        # another person's, two readings, or another bare number that could be the vital
        ("My son's heart rate was 130.", "Not tachycardic."),
        ("My watch said 130 when it happened, your heart rate is 80 now.", "Tachycardic."),
        ("Heart rate was 120 in triage and 84 now.", "Not tachycardic."),
        # a word for the finding in the turn says it itself ("tachycardic" is read)
        ("Heart rate 118, you're a little tachycardic from the fever.", "Tachycardic."),
        # a reading in another unit (or not a heart rate at all)
        ("Your heart rate is 7.", "Bradycardic."),
    ],
)  # fmt: skip
def test_a_vital_sign_reading_flags_nothing_it_does_not_say(said: str, statement: str) -> None:
    assert findings([said], statement) == []


def test_readings_that_disagree_across_the_visit_say_nothing() -> None:
    turns = ["Your heart rate was 124 when you came in.", "Now your heart rate is 88."]
    assert findings(turns, "Not tachycardic.") == findings(turns, "Tachycardic.") == []


@pytest.mark.parametrize(
    ("said", "finding"),
    [
        ("I can't sleep at night.", "insomnia"),
        ("She says she cannot sleep.", "insomnia"),
        ("I haven't been able to sleep.", "trouble sleeping"),
        ("I have no energy.", "fatigue"),
        ("I can't catch my breath when I walk.", "shortness of breath"),
        ("I couldn't get enough air.", "shortness of breath"),
        ("I can't keep anything down.", "vomiting"),
        # a negation word that denies nothing
        ("I can't stop coughing.", "cough"),
        ("I can't shake this cough.", "cough"),
        ("This cough won't stop.", "cough"),
        ("I've never been so tired.", "fatigue"),
        ("I can't walk up the stairs without getting short of breath.", "shortness of breath"),
        ("I've had no relief from the headaches.", "headache"),
        ("It's been nothing but headaches.", "headache"),
        ("I can't sleep because of the cough.", "cough"),
        ("I didn't have a fever until last night.", "fever"),
    ],
)
def test_a_negation_word_that_is_the_finding_is_no_denial(said: str, finding: str) -> None:
    """Before, "can't sleep", "no energy" named nothing, and the negation in "can't stop
    coughing", "never been so tired", "no relief from the headaches" read as a denial:
    "Reports cough." was a high flag and "Denies cough." passed."""
    assert findings([said], f"Reports {finding}.") == []
    denial = findings([said], f"Denies {finding}.")
    assert len(denial) == 1, denial
    assert denial[0].startswith("high negation"), denial


@pytest.mark.parametrize(
    ("said", "statement", "expected"),
    [
        # not knowing is not denying: medium at most
        ("I don't know if it's a fever but I feel hot.", "Reports fever.",
         ["medium negation fever | said: possible fever"]),
        ("I don't know if it's a fever but I feel hot.", "Denies fever.",
         ["medium negation fever | said: possible fever"]),
        # not remembering one is a denial
        ("I can't recall a fever.", "Denies fever.", []),
        # a bare "no" after the finding denies it
        ("diarrhea no", "Reports diarrhea.", ["high negation diarrhea | said: no diarrhea"]),
        ("diarrhea no", "Denies diarrhea.", []),
        # advice about what might come says nothing of now
        ("diarrhea no", "Be aware of diarrhea.", []),
        ("diarrhea no", "Look out for diarrhea.", []),
        # "any better" follows a negation: still there
        ("I don't think the cough is any better.", "Cough resolved.",
         ["high negation cough | said: ongoing cough, no better"]),
        ("I drink no energy drinks.", "Reports fatigue.", []),
        ("Don't take it until the fever is gone.", "Denies fever.", []),
    ],
)  # fmt: skip
def test_unsure_trailing_no_and_advice(said: str, statement: str, expected: list[str]) -> None:
    assert findings([said], statement) == expected


@pytest.mark.parametrize(
    ("turns", "statement", "expected"),
    [
        # speech recognition ends a turn at a pause, not at a change of speaker
        (["Any fever? No."], "Reports fever.", ["high negation fever | said: no fever"]),
        (["Any fever? No."], "Denies fever.", []),
        (["Any chest pain? Yeah, a little."], "Denies chest pain.",
         ["high negation chest pain | said: chest pain"]),
        # the question answered in its own turn is not answered again by the next turn
        (["Any fever? No. Any cough?", "Yes."], "Denies fever.", []),
        (["Any fever? No. Any cough?", "Yes."], "Denies cough.",
         ["high negation cough | said: cough"]),
        # what follows a question in the asker's turn is no answer unless it is short
        (["Any fever? Sometimes that comes with the flu going around.", "No."],
         "Reports fever.", ["high negation fever | said: no fever"]),
        (["Any fever or chills? Okay. Any cough?", "No."], "Reports chills.",
         ["high negation chills | said: no chills"]),
        (["Any fever? No? Okay.", "Yes."], "Denies fever.", ["high negation fever | said: fever"]),
    ],
)  # fmt: skip
def test_a_question_and_its_answer_in_one_turn(
    turns: list[str], statement: str, expected: list[str]
) -> None:
    """Before, "Any fever? No." in one turn read nothing (the answer was looked for in the
    next turn), and "Any fever? No. Any cough?" / "Yes." read a fever."""
    assert findings(turns, statement) == expected


@pytest.mark.parametrize(
    ("said", "statement", "expected"),
    [
        ("The cough is getting better.", "Cough is worsening.",
         ["high temporality cough | said: cough, getting better"]),
        ("The headaches are getting worse.", "Headaches have improved.",
         ["high temporality headaches | said: headache, getting worse"]),
        ("The rash is spreading.", "Rash is improving.",
         ["high temporality rash | said: rash, getting worse"]),
        ("The swelling went down.", "Swelling has worsened.",
         ["high temporality swelling | said: swelling, getting better"]),
        ("I have less coughing now.", "Worsening cough.",
         ["high temporality cough | said: cough, getting better"]),
        ("My cough is better than last week.", "Cough is worsening.",
         ["high temporality cough | said: cough, getting better"]),
        # the same course; a condition is no course; a denied course is none
        ("The cough is getting better.", "Cough is improving.", []),
        ("The pain is getting better.", "Pain worse at night.", []),
        ("The cough is getting better.", "Cough worse with exertion.", []),
        ("Is the cough any better?", "Cough is worsening.", []),
    ],
)  # fmt: skip
def test_a_course_against_the_course_said(said: str, statement: str, expected: list[str]) -> None:
    """Before, "Cough is worsening." against "the cough is getting better" passed: the
    cough was said, its course was not compared."""
    assert findings([said], statement) == expected


def test_an_edit_that_turns_a_course_around_is_refused() -> None:
    assert "flipped_direction" in edit_flips("the swelling went down", "The swelling went up.")
    assert "flipped_direction" in edit_flips("the mole got bigger", "The mole got smaller.")
    assert edit_flips("the swelling went down", "The swelling went down.") == []


@pytest.mark.parametrize(
    ("said", "statement", "expected"),
    [
        ("The cough is no better.", "Cough is improving.",
         ["high temporality cough | said: ongoing cough, no better"]),
        ("I don't think the cough is any better.", "Cough has improved.",
         ["high temporality cough | said: ongoing cough, no better"]),
        ("The headaches are not getting worse.", "Headaches are worsening.",
         ["high temporality headaches | said: headache, no worse"]),
        ("The cough is no better.", "Cough is worsening.", []),
        ("The headaches are not getting worse.", "Headaches are improving.", []),
    ],
)  # fmt: skip
def test_a_denied_course_against_that_course(
    said: str, statement: str, expected: list[str]
) -> None:
    """ "no better" is no improvement: before, "Cough is improving." against it passed."""
    assert findings([said], statement) == expected
