"""The editor's open-class meaning checks (shared/evidence/polarity.py): an edit that flips
what a turn says is refused whatever the words are; a clean-up never is."""

from __future__ import annotations

import re

import pytest

from services.editor.review import review_reply
from shared.acibench import Dialogue
from shared.evidence.polarity import open_flips
from shared.guard import meaning_flips, unsupported_additions
from simulators.llm_behaviour import edit_turn
from simulators.llm_paraphrase import paraphrase

FLIPS = [
    # a negation dropped, however it was said
    ("the patient is not pregnant", "The patient is pregnant.", "flipped_negation"),
    ("he was unable to walk after the fall", "He was able to walk after the fall.",
     "flipped_negation"),
    ("i can't sleep at night", "I can sleep at night.", "flipped_negation"),
    ("i cannot feel my toes", "I can feel my toes.", "flipped_negation"),
    ("the pain is not getting better", "The pain is getting better.", "flipped_negation"),
    ("i'm no longer taking the lisinopril", "I am taking the lisinopril.",
     "flipped_negation"),
    ("not really any pain there", "Significant pain there.", "flipped_negation"),
    ("she's never been hospitalized", "She has been hospitalized.", "flipped_negation"),
    ("there's nothing in the urine", "Blood in the urine.", "flipped_negation"),
    ("my mom denies any bleeding", "My mom reports bleeding.", "flipped_negation"),
    ("he didn't lose consciousness", "He lost consciousness.", "flipped_negation"),
    ("he didn't lose consciousness", "He did lose consciousness.", "flipped_negation"),
    ("the x-ray was negative for fracture", "The X-ray showed a fracture.",
     "flipped_negation"),
    ("no numbness or tingling", "Numbness and tingling.", "flipped_negation"),
    ("walking without a cane", "Walking with a cane.", "flipped_negation"),
    ("i dont smoke", "I smoke.", "flipped_negation"),
    # a negation added
    ("i take aspirin every morning", "I don't take aspirin every morning.",
     "flipped_negation"),
    ("the swelling went down", "The swelling did not go down.", "flipped_negation"),
    # a direction turned
    ("we're going to increase the metformin", "We're going to decrease the metformin.",
     "flipped_direction"),
    ("let's double the dose", "Let's halve the dose.", "flipped_direction"),
    ("i'll lower the dose of your lisinopril", "I'll raise the dose of your lisinopril.",
     "flipped_direction"),
    ("my breathing has gotten worse", "My breathing has gotten better.", "flipped_direction"),
    ("the rash is improving", "The rash is worsening.", "flipped_direction"),
    ("the cough has resolved", "The cough persists.", "flipped_direction"),
    ("the headaches went away", "The headaches are ongoing.", "flipped_direction"),
    ("it hurts more when i walk", "It hurts less when I walk.", "flipped_direction"),
    ("i get fewer headaches now", "I get more headaches now.", "flipped_direction"),
    ("my sugars have been high in the mornings", "My sugars have been low in the mornings.",
     "flipped_direction"),
    ("the pain is just above the knee", "The pain is just below the knee.",
     "flipped_direction"),
    ("my upper back hurts", "My lower back hurts.", "flipped_direction"),
    # a frequency or the time of day changed, or a frequency nobody said
    ("take it twice a day", "Take it once a day.", "changed_frequency"),
    ("every other day", "Every day.", "changed_frequency"),
    ("use the inhaler as needed", "Use the inhaler daily.", "changed_frequency"),
    ("one tablet daily", "One tablet as needed.", "changed_frequency"),
    ("every six hours", "Every 8 hours.", "changed_frequency"),
    ("take the ibuprofen with food", "Take the ibuprofen with food three times a day.",
     "changed_frequency"),
    ("take it at bedtime", "Take it in the morning.", "changed_timing"),
    ("i take it with breakfast", "I take it with dinner.", "changed_timing"),
    ("it started after i fell", "It started before I fell.", "changed_timing"),
    ("take it before meals", "Take it after meals.", "changed_timing"),
    # a past habit made current, or the reverse
    ("i used to drink but i quit", "I drink.", "flipped_temporality"),
    ("i quit smoking two years ago", "I smoke.", "flipped_temporality"),
    # a number's unit changed
    ("ten units of insulin at night", "10 mg of insulin at night.", "changed_unit"),
    ("take two tablets", "Take 2 mg.", "changed_unit"),
    ("it started three days ago", "It started 3 weeks ago.", "changed_unit"),
    ("for about two weeks", "For about two months.", "changed_unit"),
]  # fmt: skip

CLEAN_UPS = [
    ("uh no fever", "No fever."),
    ("no fever i have a cough though", "No fever. I have a cough, though."),
    ("no, i have chest pain", "No. I have chest pain."),
    ("nope", "No."),
    ("no no i'm fine", "No, I'm fine."),
    ("i don't think it's broken", "I think it's not broken."),
    ("i don't have any chest pain", "I have no chest pain."),
    ("i haven't been sleeping well and my back hurts",
     "I haven't been sleeping well, and my back hurts."),
    ("no chest pain but my back hurts", "No chest pain, but my back hurts."),
    ("the pain is better but my knee is worse", "The pain is better, but my knee is worse."),
    ("it doesn't hurt when i walk", "It doesn't hurt when I walk."),
    ("um i take metforman twice a day", "I take metformin BID."),
    ("um five hundred milligrams twice a day", "500 mg twice a day."),
    ("i take it every day in the morning", "I take it daily in the morning."),
    ("as needed", "PRN."),
    ("every twelve hours", "q12h."),
    ("good morning how are you doing", "Good morning, how are you doing?"),
    ("we will increase it to twenty milligrams", "We will increase it to 20 mg."),
    ("point five milligrams of lorazepam", "0.5 mg of lorazepam."),
    ("temperature was one oh one point five", "Temperature was 101.5."),
    ("two point five milligrams", "2.5 mg."),
    ("five hundred milligrams", "0.5 g."),
    ("it started three days ago", "It started 3 days ago."),
    ("i take it once in the morning and once at night",
     "I take it twice a day, morning and night."),
    ("i take it twice a day", "I take it once in the morning and once at night."),
    ("the rash went away after a week", "The rash went away after a week."),
    ("nothing's changed", "Nothing has changed."),
    ("i dont smoke", "I don't smoke."),
    ("yeah no it's fine", "Yeah, no, it's fine."),
    ("no i mean the left one", "No, I mean the left one."),
    # digits inside a name are no value ("O2", "A1c", "B12")
    ("oxygen ninety eight percent", "O2 sat 98%."),
    ("a one c of seven point two", "A1c 7.2."),
    ("sat ninety four on room air", "SpO2 94% on room air."),
    ("my b twelve was low", "My B12 was low."),
]  # fmt: skip


@pytest.mark.parametrize(("turn", "edit", "code"), FLIPS)
def test_a_flipped_edit_is_refused(turn: str, edit: str, code: str) -> None:
    assert code in meaning_flips(turn, edit)
    review = review_reply(turn, edit)
    assert (review.status, review.text) == ("fallback", turn)
    assert review.reason is not None
    assert code in review.reason.split("+")


@pytest.mark.parametrize(("turn", "edit"), CLEAN_UPS)
def test_a_clean_up_is_kept(turn: str, edit: str) -> None:
    assert meaning_flips(turn, edit) == []
    assert unsupported_additions(turn, edit) == []
    assert review_reply(turn, edit).status == "edited"


@pytest.mark.parametrize(
    ("turn", "edit"),
    [
        ("two point five milligrams", "25 mg."),  # a tenfold dose
        ("temperature was one oh one point five", "Temperature was 100.5."),
        ("point two five milligrams", "0.5 mg."),
        ("sat ninety four on room air", "SpO2 84% on room air."),
        ("a one c of seven point two", "A1c 7.7."),
    ],
)
def test_a_number_read_wrong_is_an_added_number(turn: str, edit: str) -> None:
    assert unsupported_additions(turn, edit) == ["added_number"]


def test_no_flip_on_the_simulators_edits_of_real_dialogues(aci_dialogues: list[Dialogue]) -> None:
    """The simulated model's clean-ups and a clinician's abbreviations of every turn of the
    ACI-Bench dialogues: none is a flip (a false alarm costs the clinician an edit)."""
    checked, flagged = 0, []
    for d in aci_dialogues:
        for i, turn in enumerate(d.turns):
            for edit in (edit_turn(turn.text), edit_turn(turn.text.lower()), paraphrase(turn.text)):
                checked += 1
                if codes := open_flips(turn.text, edit):
                    flagged.append((d.encounter_id, i, sorted(codes)))  # no text: PHI-like
    assert checked > 2000
    assert flagged == []


def test_few_flags_when_the_model_punctuates_an_unpunctuated_turn(
    aci_dialogues: list[Dialogue],
) -> None:
    """Speech recognition without punctuation, the model adding it: a sentence split moves
    words away from a negation's sentence. Every ACI-Bench turn stripped of punctuation and
    lower-cased, against the turn as written: 3 of 1,050 are flagged today (scopes that ran
    across a removed full stop); a rule change that raises false alarms fails here."""
    turns = [t.text for d in aci_dialogues for t in d.turns]
    flagged = sum(bool(open_flips(re.sub(r"[.,;:!?]", "", t.lower()), t)) for t in turns)
    assert len(turns) > 1000
    assert flagged <= len(turns) // 100
