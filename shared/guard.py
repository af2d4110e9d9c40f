"""Unsupported-addition guard: did an LLM rewrite add a number, a drug or a side nobody said?

A clinical edit may fix how a number or a drug was written ("five hundred milligrams" ->
"500 mg", "metforman" -> "metformin") but must never introduce one. This is the note
checker of ``shared.evidence`` applied to one turn: the candidate's terms are checked
against the source, and what is unsupported (severity medium or high) is reported as
reason codes (never the values: they are patient data).
"""

from __future__ import annotations

from shared.evidence.check import (
    CONTRADICTS,
    OTHER_TIME_UNIT,
    Finding,
    at_least,
    check_statement,
)
from shared.evidence.lexicon import DRUG_NAMES
from shared.evidence.meaning import edit_flips
from shared.evidence.numbers import WORD, numbers_in
from shared.evidence.terms import Support

__all__ = ["DRUG_NAMES", "drugs_in", "meaning_flips", "numbers_in", "unsupported_additions"]

# Finding kinds -> the editor's reason codes (frequencies and problems are worded freely
# in an edit; the note check flags those).
_REASONS = {
    "number": "added_number",
    "dose": "added_number",
    "vital": "added_number",
    "duration": "added_number",
    "lab": "added_number",
    "amount": "added_number",
    "age": "added_number",
    "score": "added_number",
    "drug": "added_drug",
    "laterality": "added_side",
}
_ORDER = ("added_number", "added_drug", "added_side")


def drugs_in(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w in DRUG_NAMES}


def unsupported_additions(source: str, candidate: str) -> list[str]:
    """Reason codes for what ``candidate`` adds to ``source``: ``added_number``,
    ``added_drug``, ``added_side``. Empty when the candidate only restates the source."""
    said = Support.of(source)
    found = at_least(check_statement(candidate, said, said), "medium")
    codes = {_REASONS[f.kind] for f in found if f.kind in _REASONS and not _other_unit(f)}
    return [c for c in _ORDER if c in codes]


def _other_unit(f: Finding) -> bool:
    """A duration whose number was said with another unit of time: the edit changed the
    unit, which ``meaning_flips`` names (``changed_unit``); not an added number."""
    return f.kind == "duration" and f.rule in (CONTRADICTS, OTHER_TIME_UNIT)


def meaning_flips(source: str, candidate: str) -> list[str]:
    """Reason codes for an edit that keeps the words but flips what they say:
    ``flipped_negation``, ``flipped_action``, ``flipped_direction``, ``flipped_temporality``,
    ``changed_frequency``, ``changed_timing``, ``changed_unit`` (``shared.evidence.meaning``,
    ``shared.evidence.polarity``)."""
    return edit_flips(source, candidate)
