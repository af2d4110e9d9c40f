"""Allergies however they are said: named, by a reaction with the drug referred to by a
pronoun ("it gives me hives"), in answer to an allergy question, or as "I can't take
that, it makes me swell" after the drug was named; and what is no allergy (denied,
someone else's, a drug that helped, a side effect like ankle swelling)."""

from __future__ import annotations

import pytest

from shared.evidence.allergy import AllergyReader
from shared.evidence.meaning import VisitMeaning, meaning_findings


def read(*turns: str) -> dict[str, str]:
    reader = AllergyReader()
    for turn in turns:
        reader.read(turn)
    return reader.found


@pytest.mark.parametrize(
    ("turns", "drug", "allergen"),
    [
        (["I'm allergic to penicillin."], "amoxicillin", "penicillin"),
        (["Any allergies to medications?", "Penicillin. It gives me hives."],
         "amoxicillin", "penicillin"),
        (["Have you ever taken codeine?", "I can't take that, it makes me swell."],
         "codeine", "codeine"),
        (["I took Bactrim once and it made my face swell up."], "sulfamethoxazole", "bactrim"),
        (["Any drug allergies?", "Just sulfa."], "sulfamethoxazole", "sulfa"),
        (["Have you taken Keflex before?", "Yes, I'm allergic."], "cephalexin", "keflex"),
        (["Have you ever taken naproxen?", "Yes, I'm allergic to it."], "naproxen", "naproxen"),
        (["What about aspirin?", "I can't take it, I get hives and my throat gets tight."],
         "aspirin", "aspirin"),
        (["When I took Celebrex my whole face swelled up."], "celebrex", "celebrex"),
        (["Doxycycline made me break out in hives."], "doxycycline", "doxycycline"),
        (["Last time I had Bactrim my throat was closing."], "sulfamethoxazole", "bactrim"),
        (["Codeine, it makes me itch like crazy."], "codeine", "codeine"),
        (["We tried you on lisinopril last year?", "Yes, and my tongue swelled up."],
         "lisinopril", "lisinopril"),
    ],
)  # fmt: skip
def test_allergies_however_said(turns: list[str], drug: str, allergen: str) -> None:
    assert read(*turns).get(drug) == allergen


@pytest.mark.parametrize(
    "turns",
    [
        ["I'm not allergic to anything, not even penicillin."],
        ["Any allergies?", "No, none that I know of."],
        ["My wife is allergic to penicillin."],
        ["My son gets hives from amoxicillin."],
        ["My husband can't take penicillin, he gets hives."],
        ["Any problems with the metformin?", "No. I got hives from strawberries though."],
        ["Does the penicillin bother you?", "No, it doesn't give me a rash or anything."],
        ["The metformin gives me diarrhea sometimes."],
        ["The amlodipine gives me ankle swelling."],
        ["I tried the hydrocortisone and it made the rash go away."],
        ["I have a rash on my arm, can I put hydrocortisone on it?"],
        ["We'll start you on Augmentin.", "Okay. I had hives once as a kid, from strawberries."],
        ["Take ibuprofen for that.", "Sure.", "Okay.", "I got hives last week."],
    ],
)
def test_no_allergy(turns: list[str]) -> None:
    assert read(*turns) == {}


def test_a_plan_starting_the_drug_is_high_and_names_the_allergen() -> None:
    turns = ["Any allergies to medications?", "Penicillin. It gives me hives."]
    visit = VisitMeaning.of(list(enumerate(turns)))
    found = meaning_findings("Start amoxicillin 500 mg three times daily.", visit, "plan")
    assert [(f.kind, f.severity, f.message) for f in found] == [
        ("allergy", "high", "allergy: penicillin")
    ]
    assert meaning_findings("Start azithromycin.", visit, "plan") == []


@pytest.mark.parametrize(
    ("said", "plan"),
    [
        ("I'm allergic to opioids.", "Start morphine for pain."),
        ("I'm allergic to narcotics.", "Start oxycodone 5 mg as needed."),
        ("Statins give me muscle aches, I'm allergic to statins.", "Start atorvastatin 20 mg."),
        ("I have an NSAID allergy.", "Take ibuprofen as needed."),
        ("I'm allergic to quinolones.", "Start ciprofloxacin."),
        ("I'm allergic to cephalosporins.", "Start cephalexin."),
    ],
)
def test_an_allergy_to_a_class_reaches_its_members(said: str, plan: str) -> None:
    visit = VisitMeaning.of([(0, said)])
    assert [f.kind for f in meaning_findings(plan, visit, "plan")] == ["allergy"]
    assert meaning_findings("Start acetaminophen.", visit, "plan") == []


@pytest.mark.parametrize(
    ("said", "plan", "allergen"),
    [
        ("I'm allergic to codeine.", "Start morphine for pain.", "codeine"),
        ("Codeine makes me break out in hives.", "Start oxycodone 5 mg every 6 hours as needed.",
         "codeine"),
        ("I'm allergic to morphine.", "Prescribe hydrocodone for pain.", "morphine"),
        ("I'm allergic to Percocet.", "Start Vicodin.", "percocet"),
        ("I'm allergic to penicillin.", "Start ampicillin.", "penicillin"),
        ("I'm allergic to amoxicillin.", "Start penicillin VK.", "amoxicillin"),
        ("Amoxicillin gives me a rash.", "Start Augmentin 875 mg twice a day.", "amoxicillin"),
        ("I have a sulfa allergy.", "Start Bactrim DS.", "sulfa"),
        ("I'm allergic to Bactrim.", "Start Septra.", "bactrim"),
        ("I'm allergic to aspirin.", "Take ibuprofen as needed.", "aspirin"),
        ("Ibuprofen gives me hives.", "Start naproxen 500 mg twice a day.", "ibuprofen"),
        ("I'm allergic to Advil.", "Take Aleve as needed.", "advil"),
        ("I'm allergic to naproxen.", "Continue aspirin 81 mg daily.", "naproxen"),
        ("I'm allergic to NSAIDs.", "Continue aspirin.", "nsaids"),
        ("I'm allergic to Cipro.", "Start levofloxacin.", "cipro"),
        ("I'm allergic to azithromycin.", "Start clarithromycin.", "azithromycin"),
        ("I'm allergic to doxycycline.", "Start minocycline.", "doxycycline"),
        ("I'm allergic to Keflex.", "Start cefdinir.", "keflex"),
        ("Lisinopril made my lips swell up.", "Start enalapril 10 mg daily.", "lisinopril"),
    ],
)  # fmt: skip
def test_an_allergy_to_a_drug_reaches_the_drugs_it_cross_reacts_with(
    said: str, plan: str, allergen: str
) -> None:
    visit = VisitMeaning.of([(0, said)])
    assert [(f.kind, f.message) for f in meaning_findings(plan, visit, "plan")] == [
        ("allergy", f"allergy: {allergen}")
    ]


@pytest.mark.parametrize(
    ("said", "plan"),
    [
        ("I'm allergic to codeine.", "Start acetaminophen."),
        ("I'm allergic to codeine.", "Start ibuprofen."),
        ("I'm allergic to penicillin.", "Start azithromycin."),
        ("I'm allergic to ibuprofen.", "Start acetaminophen."),
        ("I'm allergic to ibuprofen.", "Start celecoxib."),
        ("Atorvastatin gave me hives.", "Start rosuvastatin."),
        ("I'm allergic to sulfa.", "Start furosemide."),
        ("I'm allergic to Cipro.", "Start doxycycline."),
        ("My wife is allergic to codeine.", "Start morphine."),
        ("I'm not allergic to codeine.", "Start morphine."),
    ],
)  # fmt: skip
def test_no_allergy_flag_outside_the_family(said: str, plan: str) -> None:
    visit = VisitMeaning.of([(0, said)])
    assert meaning_findings(plan, visit, "plan") == []


@pytest.mark.parametrize(
    ("said", "plan"),
    [
        ("I'm allergic to amoxicillin.", "Amoxicillin 500 mg three times a day for 10 days."),
        ("I'm allergic to penicillin.", "Amoxicillin 500 mg three times a day for 10 days."),
        ("I'm allergic to penicillin.", "Amoxicillin 500 mg PO TID x 10 days."),
        ("I'm allergic to penicillin.", "Augmentin 875 mg BID."),
        ("I'm allergic to penicillin.", "Amoxicillin, 1 tablet twice daily."),
        ("I'm allergic to penicillin.", "Strep pharyngitis: amoxicillin 500 mg b.i.d."),
        ("I'm allergic to opioids.", "Oxycodone 5 mg as needed."),
        ("I'm allergic to codeine.", "Norco 5/325 one tablet every 6 hours as needed for pain."),
        ("Bactrim gives me hives.", "Bactrim DS twice a day for 3 days."),
        ("I'm allergic to ibuprofen.", "Ibuprofen 600 mg q6h prn pain."),
        ("I'm allergic to penicillin.", "Azithromycin 500 mg today, amoxicillin 500 mg TID."),
        ("I'm allergic to penicillin.", "Amoxicillin for 10 days."),
        ("I'm allergic to penicillin.", "Sent amoxicillin to the pharmacy."),
        ("I'm allergic to penicillin.", "Rx: amoxicillin."),
        ("I'm allergic to penicillin.", "Unasyn IV."),
        ("I'm allergic to cephalexin.", "Ceftriaxone given in clinic."),
        ("I'm allergic to penicillin.", "Augmentin as directed."),
    ],
)  # fmt: skip
def test_a_plan_line_prescribing_by_dose_or_frequency_is_a_prescription(
    said: str, plan: str
) -> None:
    visit = VisitMeaning.of([(0, said)])
    assert [f.kind for f in meaning_findings(plan, visit, "plan")] == ["allergy"]


@pytest.mark.parametrize(
    "plan",
    [
        "Penicillin allergy noted; azithromycin 500 mg daily instead.",
        "Amoxicillin allergy: hives.",
        "Avoid amoxicillin 500 mg.",
        "No amoxicillin given allergy.",
        "Previously took amoxicillin 500 mg three times a day.",
        "Azithromycin 500 mg day 1, then 250 mg daily for 4 days.",
        "Not a candidate for amoxicillin 500 mg TID.",
        "Penicillin allergy: amoxicillin not given.",
        "History: amoxicillin 500 mg caused hives.",
    ],
)
def test_a_plan_line_naming_the_allergen_for_another_reason_is_no_prescription(
    plan: str,
) -> None:
    visit = VisitMeaning.of([(0, "I'm allergic to penicillin.")])
    assert [f for f in meaning_findings(plan, visit, "plan") if f.kind == "allergy"] == []
    # Outside the plan nothing prescribes.
    assert meaning_findings("Amoxicillin 500 mg three times a day.", visit, "subjective") == []
