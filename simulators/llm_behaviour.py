"""Deterministic "model" of the LLM Gateway simulator: clinical turn edits and SOAP notes.

The edit applies a small documented set of corrections and never adds a fact. The SOAP
writer is extractive: every bullet is a sentence copied verbatim from the transcript,
chosen by keyword rules per section, so tests can check that a note says nothing that
was not said. Asked for structured output (``response_format`` json_schema), it replies
with the same statements as JSON, each with the turn number (``[seq]`` line prefix) it
was copied from. The fault mode ``llm_fabricate`` changes a known share of statements.
"""

from __future__ import annotations

import json
import random
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
from simulators.asr_confusions import DRUG_MISHEARINGS
from simulators.llm_fabricate import Fabrication, fabricate
from simulators.llm_paraphrase import paraphrase

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
    # Split and respelled by sound, as recognizers write them (simulators.asr_confusions).
    **{heard: drug for drug, heard in DRUG_MISHEARINGS},
}
# Longest first: "es sita low pram" is corrected before "sita low pram" can match inside it.
_CORRECTIONS = sorted(DRUG_CORRECTIONS.items(), key=lambda kv: -len(kv[0]))
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
    for wrong, right in _CORRECTIONS:
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
_SEQ = re.compile(r"^\[(\d+)\]\s+")  # the turn number of a structured request's line

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


def numbered_sentences(lines: Sequence[str]) -> list[tuple[int | None, str]]:
    """(turn number or None, sentence) of the transcript, verbatim, without the turn
    number and speaker prefix of each line."""
    sentences: list[tuple[int | None, str]] = []
    for raw in lines:
        line = raw.strip()
        m = _SEQ.match(line)
        seq = int(m.group(1)) if m else None
        line = _SPEAKER.sub("", line[m.end() :] if m else line, count=1)
        sentences.extend((seq, s.strip()) for s in _SENTENCE_END.split(line) if s.strip())
    return sentences


def transcript_sentences(lines: Sequence[str]) -> list[str]:
    """Sentences of the transcript, verbatim, without the speaker prefix of each line."""
    return [s for _, s in numbered_sentences(lines)]


def classify(sentence: str) -> str | None:
    low = sentence.lower()
    for section in ("Plan", "Assessment", "Objective", "Subjective"):
        if any(k in low for k in SECTION_KEYWORDS[section]):
            return section
    return None


Statements = dict[str, list[tuple[str, list[int]]]]  # section -> (text, seqs)


def soap_statements(lines: Sequence[str]) -> Statements:
    """Each section's statements (sentences copied from the transcript) and their turns."""
    chosen: Statements = {s: [] for s in SOAP_SECTIONS}
    seen: set[str] = set()
    for seq, sentence in numbered_sentences(lines):
        if len(sentence.split()) < MIN_WORDS or sentence in seen:
            continue
        section = classify(sentence)
        if section is not None and len(chosen[section]) < MAX_BULLETS:
            chosen[section].append((sentence, [seq] if seq is not None else []))
            seen.add(sentence)
    for section in SOAP_SECTIONS:
        chosen[section] = chosen[section] or [(NOT_DISCUSSED, [])]
    return chosen


def render_statements(
    statements: Statements, *, structured: bool = False, drop_section: str | None = None
) -> str:
    """The strict four-section text, or the JSON of the structured request;
    ``drop_section`` omits one (fault mode)."""
    kept = [s for s in SOAP_SECTIONS if s != drop_section]
    if structured:
        body = {s.lower(): [{"text": t, "seqs": seqs} for t, seqs in statements[s]] for s in kept}
        return json.dumps({"sections": body}, ensure_ascii=False)
    out: list[str] = []
    for section in kept:
        out.append(f"{section}:")
        out.extend(f"- {t}" for t, _ in statements[section])
    return "\n".join(out)


def soap_note(lines: Sequence[str], *, drop_section: str | None = None) -> str:
    """The strict four-section note, extractive; ``drop_section`` omits one (fault mode)."""
    return render_statements(soap_statements(lines), drop_section=drop_section)


def soap_answer(
    user: str,
    *,
    structured: bool = False,
    drop_section: str | None = None,
    fabricate_share: float = 0.0,
    rng: random.Random | None = None,
    restate: bool = False,
) -> tuple[str, list[Fabrication]]:
    """The SOAP reply to a request, and the fabrications inserted (fault mode)."""
    m = _TRANSCRIPT.search(user)
    lines = (m.group(1) if m else user).splitlines()
    statements = soap_statements(lines)
    if restate:
        statements = {
            s: [(paraphrase(t) if t != NOT_DISCUSSED else t, q) for t, q in items]
            for s, items in statements.items()
        }
    made: list[Fabrication] = []
    if fabricate_share > 0:
        texts = {s.lower(): [t for t, _ in items] for s, items in statements.items()}
        spoken = " ".join(t for _, t in numbered_sentences(lines))
        made = fabricate(texts, spoken, fabricate_share, rng or random.Random(0))
        for section, items in statements.items():
            new = texts[section.lower()]
            statements[section] = [(new[i], seqs) for i, (_, seqs) in enumerate(items)]
    text = render_statements(statements, structured=structured, drop_section=drop_section)
    return text, made


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
        return "soap", soap_answer(user, drop_section=drop_soap_section)[0]
    return "other", "This is a simulated reply."
