"""Medication actions (start / stop / continue / change dose / hold) per drug.

Rules over words, one sentence at a time: a drug takes the nearest action word before it
in its sentence ("stop lisinopril and start losartan"), else the nearest within a few
words after it ("the lisinopril, let's stop it"). "Switch from A to B" stops A and starts
B. An action word after "don't" / "not" is read as its opposite ("don't stop" continues).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shared.evidence.assertion import sentences
from shared.evidence.frequency import frequencies, normalise
from shared.evidence.lexicon import BRAND_GENERIC, DOSE_UNITS, DRUG_NAMES, by_canonical

Action = Literal["start", "stop", "continue", "change", "hold"]
# What matters for safety: will the patient be taking the drug after the visit?
TAKING: dict[Action, bool] = {
    "start": True, "continue": True, "change": True, "stop": False, "hold": False,
}  # fmt: skip
_OPPOSITE: dict[Action, Action] = {
    "start": "hold", "continue": "stop", "change": "continue", "stop": "continue",
    "hold": "continue",
}  # fmt: skip

_PHRASES: dict[str, Action] = by_canonical({
    "start": (
        "start", "starting", "begin", "initiate", "prescribe", "prescribing", "prescribed",
        "add", "adding", "put you on", "put him on", "put her on", "try", "trial of",
        "switch to", "switching to", "new prescription for", "give you", "recommend",
        "restart", "switch you to",
    ),
    "continue": (
        "continue", "continuing", "keep", "stay on", "remain on", "refill", "refilled",
        "taking", "take", "takes", "still on", "resume",
    ),
    "change": (
        "increase", "increasing", "increased", "decrease", "decreasing", "decreased",
        "reduce", "reducing", "double", "titrate", "bump up", "go up on", "lower", "raise",
        "adjust", "change the dose",
    ),
    "stop": (
        "stop", "stopping", "stopped", "discontinue", "discontinuing", "discontinued", "d/c",
        "come off", "get off", "taper off", "no longer", "quit", "switch from",
        "switching from", "change from", "switch you from", "switching you from",
        "change you from", "take you off", "taking you off", "instead of", "off of", "off the",
        # "stop taking it": one phrase, or its "taking" would read as continuing
        "stop taking", "stopped taking", "quit taking", "no longer taking", "no longer take",
        "stop using", "stopped using", "discontinue taking", "stop the",
    ),
    "hold": ("hold", "holding", "pause", "hold off on", "skip", "avoid"),
})  # fmt: skip
_NOT = re.compile(r"(?:\b(?:don't|do not|not|never|won't|will not|didn't|shouldn't)\s+)$")
_ACTION = re.compile(
    r"(?<![\w-])("
    + "|".join(re.escape(p) for p in sorted(_PHRASES, key=lambda p: (-len(p), p)))
    + r")(?![\w-])"
)
_DRUG = re.compile(r"[a-z]+")
_AFTER_REACH = 30  # characters: "lisinopril, let's stop it"


@dataclass(frozen=True)
class DrugAction:
    drug: str  # generic name
    action: Action
    text: str  # "stop lisinopril", as written (lower case)


def generic(word: str) -> str:
    return BRAND_GENERIC.get(word, word)


def _drugs(sentence: str) -> list[tuple[int, int, str]]:
    return [
        (m.start(), m.end(), m.group(0))
        for m in _DRUG.finditer(sentence)
        if m.group(0) in DRUG_NAMES
    ]


def drug_actions(text: str) -> list[DrugAction]:
    """Each drug with an action word, in reading order."""
    out: list[DrugAction] = []
    for sentence in sentences(text.lower()):
        triggers: list[tuple[int, int, Action]] = []
        switching = False
        for m in _ACTION.finditer(sentence):
            action = _PHRASES[m.group(1)]
            if _NOT.search(sentence[: m.start()]):
                action = _OPPOSITE[action]
            switching = switching or m.group(1).endswith(" from")
            triggers.append((m.start(), m.end(), action))
        if switching:  # "switch from A to B": the "to" starts B
            for m in re.finditer(r"\bto\b", sentence):
                triggers.append((m.start(), m.end(), "start"))
            triggers.sort()
        if not triggers:
            continue
        for start, end, word in _drugs(sentence):
            before = [t for t in triggers if t[1] <= start]
            after = [t for t in triggers if t[0] >= end and t[0] - end <= _AFTER_REACH]
            if before:
                t_start, _, action = before[-1]
            elif after:
                t_start, _, action = after[0]
            else:
                continue
            lo, hi = min(t_start, start), max(end, start)
            out.append(DrugAction(generic(word), action, sentence[lo:hi].strip()))
    return out


# A plan line that names a drug with a dose, a frequency or a course and no action word
# prescribes it ("Amoxicillin 500 mg three times a day for 10 days."): a prescription for
# the allergy check, not an action said (the action check compares actions said).
_DOSE = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:"
    + "|".join(re.escape(u) for u in sorted(DOSE_UNITS, key=lambda u: (-len(u), u)))
    + r")\b|\b(?:one|two|three|half|a) (?:tab|tablet|pill|capsule|puff)s?\b"
)
_COURSE = re.compile(
    r"\b(?:x\s*\d+|for \d+ (?:days?|weeks?)|po|by mouth|orally|sig|as directed|iv|im)\b"
)
# Words that prescribe or give a drug without being a medication action of the visit's
# talk: "Sent amoxicillin to the pharmacy.", "Rx: amoxicillin", "Ceftriaxone given in clinic."
_GIVING = re.compile(
    r"\b(?:sent|send|sending|e-?prescribed|e-?prescribe|called in|call in|rx|ordered|"
    r"dispensed?|given|gave|administered|administer)\b"
)
# In the sentence: the drug is named for another reason (an allergy, what to avoid).
_NOT_PRESCRIBED = re.compile(
    r"allerg|reaction|hives|rash|intoleran|avoid|contraindicat|\binstead\b|alternative|"
    r"rather than|in place of|\bnkda\b"
)
# In the drug's clause: denied, past or tried before.
_NOT_NOW = re.compile(
    r"\b(?:no|not|never|without|don't|do not|history|h/o|previous\w*|prior|failed|tried|"
    r"used to|took|last (?:year|month|week|time))\b"
)
_CLAUSE_END = re.compile(r"[,;:]")


def prescribed(text: str) -> list[DrugAction]:
    """Drugs a plan line prescribes by dose, frequency or course with no action word of
    its own ("Amoxicillin 500 mg TID x 10 days."), as "start"."""
    acted = {a.drug for a in drug_actions(text)}
    out: list[DrugAction] = []
    for sentence in sentences(normalise(text)):
        if _NOT_PRESCRIBED.search(sentence):
            continue
        drugs = _drugs(sentence)
        for i, (start, end, word) in enumerate(drugs):
            stop = drugs[i + 1][0] if i + 1 < len(drugs) else len(sentence)
            cut = _CLAUSE_END.search(sentence, end, stop)
            if cut and not sentence[end : cut.start()].strip():  # "Amoxicillin, 1 tab BID"
                cut = _CLAUSE_END.search(sentence, cut.end(), stop)
            after = sentence[end : cut.start() if cut else stop]
            before = re.split(r"[,;]", sentence[:start])[-1]  # "Rx: amoxicillin"
            if generic(word) in acted or _NOT_NOW.search(before + after):
                continue
            if (
                _DOSE.search(after)
                or _COURSE.search(after)
                or frequencies(after)
                or _GIVING.search(before + after)
            ):
                out.append(DrugAction(generic(word), "start", f"{word}{after}".strip()))
    return out
