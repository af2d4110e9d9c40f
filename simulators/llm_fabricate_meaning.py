"""Meaning fabrications of the LLM simulator's fault mode: the words stay, the meaning
flips (issue 25).

- ``negation``: an affirmed concept is denied ("...; denies fever."), or a denied one
  affirmed ("no chest pain" -> "reports chest pain");
- ``experiencer``: the patient's concept is filed as family history, or a relative's as
  the patient's ("my father had a heart attack" -> "the patient had a heart attack");
- ``action``: a drug's action reversed ("continue lisinopril" -> "stop lisinopril");
- ``temporality``: a habit's past and present swapped ("quit smoking" -> "currently
  smokes").

Truth is judged with plain word tests on the transcript, not with the checker's reader:
a fabrication is made only when no sentence of the visit naming the concept (or drug)
already says it the new way (no denial cue, no relative, no action word of the new
direction), so every fabrication is false.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from shared.evidence.concepts import CANONICAL, PATTERN

_NEG_CUE = re.compile(
    r"\b(no|not|any|denies|denied|deny|never|without|negative|none|n't)\b|n't\b", re.IGNORECASE
)
# Said as a possibility or a condition: denying it is not a clear-cut flip.
_HEDGE = re.compile(
    r"\b(suspect|possible|possibly|may|might|could|if|concern\w*|worr\w*|rule out|likely|"
    r"probably|maybe|risk)\b",
    re.IGNORECASE,
)
_NEGATED = re.compile(
    r"\b(no|denies|denied|negative for|never had|without)\s+(?:any\s+)?", re.IGNORECASE
)
_RELATIVE = (
    r"(?:father|mother|dad|mom|brother|sister|son|daughter|grandfather|grandmother|uncle|aunt|"
    r"cousin|wife|husband|family)"
)
_RELATIVE_WORD = re.compile(rf"\b{_RELATIVE}\b", re.IGNORECASE)
_RELATIVE_SUBJECT = re.compile(rf"\b(?:my|his|her|their|your)\s+{_RELATIVE}\b", re.IGNORECASE)
_HABIT = re.compile(r"\b(smok\w*|cigarettes?|tobacco|alcohol)\b", re.IGNORECASE)
_PAST_CUE = re.compile(r"\b(quit|former|formerly|used to|stopped|ex-|years ago)\b", re.I)
_ON = r"start|starting|continue|continuing|keep|refill|increase|increasing|take|taking|resume"
_OFF = r"stop|stopping|discontinue|discontinuing|hold|holding"
_ACTION_WORD = re.compile(rf"\b({_ON}|{_OFF})\b", re.IGNORECASE)
_ON_WORD = re.compile(rf"\b({_ON})\b", re.IGNORECASE)
_OFF_WORD = re.compile(rf"\b({_OFF})\b", re.IGNORECASE)
_SENTENCES = re.compile(r"[^.!?\n]+[.!?]*")
_NEAR = 40  # characters between an action word (or a relative) and its drug (or concept)


_QUESTION = re.compile(
    r"^\W*(?:(?:okay|ok|alright|all right|and|so|um|uh)\W+)*(?:have you|do you|did you|are you|"
    r"any|is there|was there|does|has)\b"
)


def _said_with(transcript: str, word: str) -> list[str]:
    """Sentences of the visit that name ``word`` or another name of its concept (lower
    case), questions left out: a question asserts nothing (its answer may be "no")."""
    concept = CANONICAL.get(word)
    names = [n for n, c in CANONICAL.items() if c == concept] if concept else [word]
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, names)) + r")(?![\w-])")
    return [
        s
        for s in _SENTENCES.findall(transcript.lower())
        if pattern.search(s) and not s.rstrip().endswith("?") and not _QUESTION.match(s)
    ]


def flip_negation(text: str, transcript: str) -> str | None:
    m = PATTERN.search(text.lower())
    if m is None:
        return None
    phrase = m.group(1)
    said = _said_with(transcript, phrase)
    if not said:
        return None
    negated = _NEGATED.search(text[: m.start(1)])
    if negated is not None and negated.end() == m.start(1):
        # Denied in the note: affirm it, unless the visit affirmed it anywhere.
        if not all(_NEG_CUE.search(s) for s in said):
            return None
        return text[: negated.start()] + "reports " + text[m.start(1) :]
    if _NEG_CUE.search(text) or any(_NEG_CUE.search(s) or _HEDGE.search(s) for s in said):
        return None
    return f"{text.rstrip(' .')}; denies {phrase}."


def swap_experiencer(text: str, transcript: str) -> str | None:
    m = PATTERN.search(text.lower())
    if m is None:
        return None
    said = _said_with(transcript, m.group(1))
    if not said:
        return None
    relative = _RELATIVE_SUBJECT.search(text)
    if relative is not None:  # a relative's problem written as the patient's
        near = relative.end() <= m.start(1) <= relative.end() + _NEAR
        new = text[: relative.start()] + "the patient" + text[relative.end() :]
        if near and all(_RELATIVE_WORD.search(s) for s in said) and not _RELATIVE_WORD.search(new):
            return new
        return None
    if _RELATIVE_WORD.search(text) or any(_RELATIVE_WORD.search(s) for s in said):
        return None
    return f"{text.rstrip(' .')}. Family history of {m.group(1)}."


def reverse_action(text: str, transcript: str, drugs: frozenset[str]) -> str | None:
    """The action word nearest before a drug (within a few words) reversed."""
    low = text.lower()
    drug_at = next((m for m in re.finditer(r"[a-z]+", low) if m.group(0) in drugs), None)
    if drug_at is None:
        return None
    drug = drug_at.group(0)
    window = re.split(r"[.!?;]", text[max(0, drug_at.start() - _NEAR) : drug_at.start()])[-1]
    found = list(_ACTION_WORD.finditer(window))
    if not found:
        return None
    offset = drug_at.start() - len(window)
    last = found[-1]
    start, end = offset + last.start(1), offset + last.end(1)
    going_on = _ON_WORD.fullmatch(last.group(1)) is not None
    new, opposite = ("stop", _OFF_WORD) if going_on else ("continue", _ON_WORD)
    if any(opposite.search(s) for s in _said_with(transcript, drug)):
        return None
    return text[:start] + new + text[end:]


def flip_temporality(text: str, transcript: str) -> str | None:
    m = _HABIT.search(text)
    if m is None:
        return None
    smoking = m.group(1).lower() != "alcohol"
    said = _said_with(transcript, m.group(1).lower())
    if not said:
        return None
    if _PAST_CUE.search(text):
        if any(not _PAST_CUE.search(s) for s in said):
            return None
        return "Currently smokes." if smoking else "Currently drinks alcohol daily."
    if any(_PAST_CUE.search(s) for s in said) or _NEG_CUE.search(text):
        return None
    return "Former smoker." if smoking else "Former drinker."


def options(text: str, transcript: str, drugs: frozenset[str]) -> list[tuple[str, str]]:
    """(kind, new text) for each meaning fabrication this statement allows."""
    makers: dict[str, Callable[[], str | None]] = {
        "negation": lambda: flip_negation(text, transcript),
        "experiencer": lambda: swap_experiencer(text, transcript),
        "action": lambda: reverse_action(text, transcript, drugs),
        "temporality": lambda: flip_temporality(text, transcript),
    }
    out: list[tuple[str, str]] = []
    for kind, make in makers.items():
        new = make()
        if new is not None and new != text:
            out.append((kind, new))
    return out
