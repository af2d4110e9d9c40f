"""Sides of body parts however they are said, and a note's side held against the whole
visit: a side never given for that part (or finding) is flagged even when the linked
turns are elsewhere and "left" is said about something else."""

from __future__ import annotations

import pytest

from shared.evidence import build_evidence
from shared.evidence.meaning import VisitMeaning, meaning_findings
from shared.evidence.sides import side_mentions


def read(text: str) -> list[tuple[str, str]]:
    return [(m.side, m.part) for m in side_mentions(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Left knee pain.", [("left", "knee")]),
        ("My knee hurts on the left side.", [("left", "knee")]),
        ("The left side of my knee.", [("left", "knee")]),
        ("My ankle, the right one, is swollen.", [("right", "ankle")]),
        ("Which ear?\nThe right one.", [("right", "ear")]),
        ("Is it your left hip or your right hip?\nThe left.", [("left", "hip")]),
        ("Is it your right knee?\nYes.", [("right", "knee")]),
        ("Is it your right knee?\nNo.", []),
        ("Right lower extremity edema.", [("right", "leg")]),
        ("Swelling of both legs.", [("bilateral", "leg")]),
        ("Both of my knees ache.", [("bilateral", "knee")]),
        ("Left and right knees.", [("left", "knee"), ("right", "knee")]),
        ("Right tympanic membrane bulging.", [("right", "ear")]),
        ("Left otitis media.", [("left", "ear")]),
        ("Crackles at the left base.", [("left", "lung")]),
        ("Right-sided chest pain.", [("right", "chest")]),
        ("Pain in my side, here on the right.", [("right", "side")]),
        ("Right lower quadrant tenderness.", [("right", "lower quadrant")]),
        ("Her calves, both of them, are swollen.", [("bilateral", "calf")]),
        ("Left fifth metatarsal fracture.", [("left", "foot")]),
        ("Decreased breath sounds on the right.", [("right", "lung")]),
        # clinicians' shorthand, right before the part
        ("L shoulder pain.", [("left", "shoulder")]),
        ("(R) knee effusion.", [("right", "knee")]),
        ("Rt ankle sprain; Lt wrist normal.", [("right", "ankle"), ("left", "wrist")]),
        ("Bilat knee pain.", [("bilateral", "knee")]),
        ("L lower extremity edema.", [("left", "leg")]),
        ("Gave 2 L of fluid.", []),
        ("R/O pneumonia.", []),
        ("L4-L5 disc herniation.", []),
        # "left" and "right" that are no side
        ("I left my knee brace at home.", []),
        ("Right, and my knee is sore.", []),
        ("It hurts right in the knee.", []),
        ("Right.", []),
    ],
)  # fmt: skip
def test_sides_however_said(text: str, expected: list[tuple[str, str]]) -> None:
    assert read(text) == expected


def findings(turns: list[str], statement: str) -> list[str]:
    visit = VisitMeaning.of(list(enumerate(turns)))
    return [f"{f.severity} | {f.message}" for f in meaning_findings(
        statement, visit, "objective") if f.kind == "laterality"]  # fmt: skip


def test_a_side_the_visit_never_gave_for_that_part() -> None:
    turns = ["On exam the right knee has an effusion.", "Your left hand looks fine."]
    assert findings(turns, "Right knee effusion.") == []
    assert findings(turns, "Left knee effusion.") == [
        "high | side differs from the visit (said: right knee)"
    ]
    assert findings(["My knee has been swelling."], "Left knee swelling.") == [
        "high | side not said for the knee"
    ]
    assert findings(["Both of my knees ache."], "Bilateral knee pain.") == []
    assert findings(["Both of my knees ache."], "Right knee pain.") == [
        "medium | side differs from the visit (said: bilateral knee)"
    ]
    assert findings(["My right leg is swollen."], "Bilateral leg swelling.") == [
        "high | side differs from the visit (said: right leg)"
    ]


def test_a_side_called_normal_does_not_support_a_finding_there() -> None:
    turns = ["The right TM is red and bulging.", "The left one looks normal."]
    assert findings(turns, "Right otitis media.") == []
    assert findings(turns, "Left otitis media.") == [
        "high | side differs from the visit (said: right ear)"
    ]
    assert findings(turns, "Left ear normal.") == []


def test_in_the_note_beyond_the_linked_turns() -> None:
    """The statement is linked to a turn that names no side; the exam said right."""
    turns = [
        (0, "So your ear has been hurting since Friday?"),
        (1, "Yes, it's been really painful."),
        (2, "Looking in your ears, the right eardrum is red and bulging."),
        (3, "I left my phone in the car, sorry."),
    ]
    sections = {"subjective": ["Left ear pain since Friday."]}
    [st] = build_evidence(sections, turns, {"subjective": [[0, 1]]})
    assert [(f["kind"], f["severity"], f["message"]) for f in st["flags"]] == [
        ("laterality", "high", "side differs from the visit (said: right ear)")
    ]


def test_a_shorthand_side_against_the_side_said() -> None:
    """Before, "L shoulder pain." against "my right shoulder" passed: "L" was no side."""
    from shared.evidence import Support, check_statement

    said = Support.of("the pain is in my right shoulder")
    assert [(f.kind, f.severity) for f in check_statement("L shoulder pain.", said, said)] == [
        ("laterality", "high")
    ]
    assert check_statement("R shoulder pain.", said, said) == []
