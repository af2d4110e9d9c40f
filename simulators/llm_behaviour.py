"""Deterministic "model" of the LLM Gateway simulator: clinical turn edits and SOAP notes.

The edit applies a small documented set of corrections and never adds a fact. The SOAP
writer is extractive: every bullet is a sentence copied verbatim from the transcript,
chosen by keyword rules per section, so tests can check that a note says nothing that
was not said.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from shared.prompts import (
    EDIT_BATCH_MARKER,
    EDIT_MARKER,
    NOT_DISCUSSED,
    SOAP_MARKER,
    SOAP_SECTIONS,
)

# Misheard drug names (lower case, as speech recognition writes them) -> correct name.
DRUG_CORRECTIONS: dict[str, str] = {
    "metforman": "metformin",
    "metforeman": "metformin",
    "met forman": "metformin",
    "metformen": "metformin",
    "lisinipril": "lisinopril",
    "lysinopril": "lisinopril",
    "lisinoprill": "lisinopril",
    "lycinopril": "lisinopril",
    "lisa nopril": "lisinopril",
    "atorvastatine": "atorvastatin",
    "a torva statin": "atorvastatin",
    "ibuprofin": "ibuprofen",
    "amoxicilin": "amoxicillin",
    "amoxicillan": "amoxicillin",
    "omeprazol": "omeprazole",
    "levothyroxin": "levothyroxine",
    "gabapentine": "gabapentin",
    "albuterole": "albuterol",
    "predisone": "prednisone",
    "warferin": "warfarin",
    "hydro chlorothiazide": "hydrochlorothiazide",
    "amlodapine": "amlodipine",
    "losarten": "losartan",
}
# Brand names are proper nouns.
PROPER_NOUNS = ("Tylenol", "Advil", "Motrin", "Lipitor", "Zoloft", "Lasix", "Xarelto", "Eliquis")
# The pronoun "i" and its contractions.
_PRONOUN_I = re.compile(r"\bi(?=\b|'(?:m|ve|ll|d)\b)")

FABRICATION = "Take 40 mg of warfarin daily."


def _replace_words(text: str, wrong: str, right: str) -> str:
    pattern = re.compile(r"\b" + re.escape(wrong).replace(r"\ ", r"\s+") + r"\b", re.IGNORECASE)

    def keep_case(m: re.Match[str]) -> str:
        return right.capitalize() if m.group(0)[0].isupper() else right

    return pattern.sub(keep_case, text)


def edit_turn(text: str) -> str:
    """The simulator's clinical edit: corrections only, never an added fact."""
    out = " ".join(text.split())
    if not out:
        return out
    for wrong, right in DRUG_CORRECTIONS.items():
        out = _replace_words(out, wrong, right)
    for name in PROPER_NOUNS:
        out = re.sub(rf"\b{name}\b", name, out, flags=re.IGNORECASE)
    out = _PRONOUN_I.sub("I", out)
    out = re.sub(r"\s+([,.;:!?])", r"\1", out)  # no space before punctuation
    # Capitalise the first letter of the turn and of every sentence.
    out = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), out)
    if out[-1] not in ".!?":
        out += "."
    return out


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPEAKER = re.compile(r"^[A-Za-z][A-Za-z _-]{0,24}:\s+")

# Keyword rules, checked Plan -> Assessment -> Objective -> Subjective (first match wins).
SECTION_KEYWORDS: dict[str, tuple[str, ...]] = {
    "Plan": (
        "we'll", "we will", "i'm going to", "i am going to", "i want you to", "start you",
        "prescribe", "follow up", "follow-up", "refer", "order", "schedule", "continue",
        "increase", "decrease", "recommend", "come back", "let's", "plan",
    ),
    "Assessment": (
        "diagnos", "likely", "consistent with", "i think", "impression", "assessment",
        "suspect", "sounds like", "looks like", "probably",
    ),
    "Objective": (
        "blood pressure", "heart rate", "temperature", "exam", "on exam", "lab", "x-ray",
        "ultrasound", "a1c", "lungs", "tenderness", "swelling", "mri", "ct scan", "ekg",
        "oxygen", "pulse", "weight", "vitals", "results",
    ),
    "Subjective": (
        "pain", "hurt", "feel", "since", "started", "cough", "fever", "tired", "dizzy",
        "nausea", "history", "i've been", "i have been", "worse", "better", "trouble",
        "sleep", "headache", "short of breath",
    ),
}  # fmt: skip
MAX_BULLETS = 8
MIN_WORDS = 4


def transcript_sentences(lines: Sequence[str]) -> list[str]:
    """Sentences of the transcript, verbatim, without the speaker prefix of each line."""
    sentences: list[str] = []
    for raw in lines:
        line = _SPEAKER.sub("", raw.strip(), count=1)
        sentences.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return sentences


def classify(sentence: str) -> str | None:
    low = sentence.lower()
    for section in ("Plan", "Assessment", "Objective", "Subjective"):
        if any(k in low for k in SECTION_KEYWORDS[section]):
            return section
    return None


def soap_note(lines: Sequence[str], *, drop_section: str | None = None) -> str:
    """The strict four-section note, extractive; ``drop_section`` omits one (fault mode)."""
    chosen: dict[str, list[str]] = {s: [] for s in SOAP_SECTIONS}
    seen: set[str] = set()
    for sentence in transcript_sentences(lines):
        if len(sentence.split()) < MIN_WORDS or sentence in seen:
            continue
        section = classify(sentence)
        if section is not None and len(chosen[section]) < MAX_BULLETS:
            chosen[section].append(sentence)
            seen.add(sentence)
    out: list[str] = []
    for section in SOAP_SECTIONS:
        if section == drop_section:
            continue
        out.append(f"{section}:")
        out.extend(f"- {s}" for s in chosen[section] or [NOT_DISCUSSED])
    return "\n".join(out)


_TURN = re.compile(r"<turn>\n?(.*?)\n?</turn>", re.DOTALL)
_BATCH_TURN = re.compile(r'<turn n="(\d+)">(.*?)</turn>', re.DOTALL)
_TRANSCRIPT = re.compile(r"<transcript>\n?(.*?)\n?</transcript>", re.DOTALL)


def text_of(content: Any) -> str:
    """Text of a message's content: a string or a list of ``{type: text, text}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def answer(
    system: str, user: str, *, fabricate: bool = False, drop_soap_section: str | None = None
) -> tuple[str, str]:
    """(task, reply) for a request, the task recognised by the system prompt's marker."""
    extra = f" {FABRICATION}" if fabricate else ""
    if EDIT_BATCH_MARKER in system:
        turns = _BATCH_TURN.findall(user)
        return "edit_batch", "\n".join(
            f'<turn n="{n}">{edit_turn(t)}{extra}</turn>' for n, t in turns
        )
    if EDIT_MARKER in system:
        m = _TURN.search(user)
        return "edit", edit_turn(m.group(1) if m else user) + extra
    if SOAP_MARKER in system:
        m = _TRANSCRIPT.search(user)
        lines = (m.group(1) if m else user).splitlines()
        return "soap", soap_note(lines, drop_section=drop_soap_section)
    return "other", "This is a simulated reply."
