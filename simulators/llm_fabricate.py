"""Fault mode of the LLM simulator: fabricated facts in a known share of SOAP statements.

Each chosen statement gets one fabrication: a changed dose (one digit), a drug nobody
said, the wrong side, or an invented vital sign; or, in about half of the statements that
allow one, a meaning fabrication (negation, experiencer, action, temporality:
``simulators.llm_fabricate_meaning``). Values are chosen so they are not said anywhere in
the visit (otherwise the "fabrication" would be true). Each is recorded (the statement's
section, index, kind and new text) so an evaluation can compute the checker's detection
and false-alarm rates.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass

from shared.evidence.lexicon import BODY_PARTS, BRAND_GENERIC, DOSE_UNITS, DRUG_NAMES
from shared.evidence.numbers import said_numbers
from simulators import llm_fabricate_meaning as meaning

# Drugs a fabrication adds (common, unmistakable names).
ADDED_DRUGS = (
    "warfarin", "metoprolol", "amiodarone", "prednisone", "gabapentin", "sertraline",
    "furosemide", "clopidogrel", "levothyroxine", "tramadol", "digoxin", "apixaban",
)  # fmt: skip
_DOSE = re.compile(
    r"\b(\d+(?:\.\d+)?)(\s*)(" + "|".join(sorted(DOSE_UNITS, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_PARTS = "|".join(sorted(BODY_PARTS, key=len, reverse=True))
_SIDE = re.compile(r"\b(left|right)((?:\s+\w+){0,2}?\s+(" + _PARTS + r"))\b", re.IGNORECASE)
MEANING_SHARE = 0.5  # of the statements that allow a meaning fabrication
_FLIP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left"}


@dataclass(frozen=True)
class Fabrication:
    section: str
    index: int
    kind: str  # dose | drug | laterality | vital | negation | experiencer | action | temporality
    text: str  # the statement as fabricated
    original: str

    def record(self) -> dict[str, object]:
        return asdict(self)


def _fresh(rng: random.Random, said: set[str], lo: int, hi: int) -> int:
    for _ in range(200):
        value = rng.randint(lo, hi)
        if str(value) not in said:
            return value
    return hi + 7


def change_dose(text: str, said: set[str]) -> str | None:
    """One digit of the first dose changed, to a value the visit never said."""
    m = _DOSE.search(text)
    if m is None:
        return None
    digits = m.group(1)
    for pos in range(len(digits)):
        if not digits[pos].isdigit():
            continue
        for step in range(1, 10):
            new_digit = str((int(digits[pos]) + step) % 10)
            if pos == 0 and new_digit == "0":
                continue
            new = digits[:pos] + new_digit + digits[pos + 1 :]
            if new.rstrip("0").rstrip(".") and new not in said and f"{float(new):g}" not in said:
                return text[: m.start(1)] + new + text[m.end(1) :]
    return None


def flip_side(text: str, transcript: str) -> str | None:
    """The first side of a body part flipped, unless the visit names that side too."""
    for m in _SIDE.finditer(text):
        other = _FLIP[m.group(1).lower()]
        said = re.search(rf"\b{other}(?:\s+\w+){{0,2}}?\s+{m.group(3)}", transcript, re.I)
        if said is None:
            new = _FLIP.get(m.group(1), other)
            return text[: m.start(1)] + new + text[m.end(1) :]
    return None


def add_drug(text: str, words: set[str], rng: random.Random) -> str:
    # Neither the drug nor any of its brand names may have been said.
    said = words | {BRAND_GENERIC[w] for w in words if w in BRAND_GENERIC}
    fresh = [d for d in ADDED_DRUGS if d not in said]
    drug = rng.choice(fresh or list(ADDED_DRUGS))
    return f"{text.rstrip(' .')}, and takes {drug}."


def add_vital(text: str, said: set[str], rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        top, bottom = _fresh(rng, said, 141, 189), _fresh(rng, said, 91, 119)
        vital = f"Blood pressure {top}/{bottom}."
    elif kind == 1:
        vital = f"Heart rate {_fresh(rng, said, 101, 139)}."
    elif kind == 2:
        vital = f"Oxygen saturation {_fresh(rng, said, 81, 89)}%."
    else:
        vital = f"Respiratory rate {_fresh(rng, said, 23, 35)}."
    return f"{text.rstrip(' .')}. {vital}"


def fabricate(
    sections: dict[str, list[str]], transcript: str, share: float, rng: random.Random
) -> list[Fabrication]:
    """Change about ``share`` of the statements in place; the changes made."""
    said = said_numbers(transcript)
    words = set(re.findall(r"[a-z]+", transcript.lower()))
    done: list[Fabrication] = []
    for section, statements in sections.items():
        for index, text in enumerate(statements):
            if text == "Not discussed." or rng.random() >= share:
                continue
            options: list[tuple[str, str]] = []
            dose, side = change_dose(text, said), flip_side(text, transcript)
            if dose is not None:
                options.append(("dose", dose))
            if side is not None:
                options.append(("laterality", side))
            if not options or rng.random() < 0.2:  # dose and side changes where possible
                options = [
                    ("drug", add_drug(text, words, rng)),
                    ("vital", add_vital(text, said, rng)),
                ]
            flips = meaning.options(text, transcript, DRUG_NAMES)
            if flips and rng.random() < MEANING_SHARE:
                options = flips
            kind, new = rng.choice(options)
            statements[index] = new
            done.append(Fabrication(section, index, kind, new, text))
    return done
