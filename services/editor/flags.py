"""Keyword flags per turn (medication, symptom, diagnosis), as the original guide showed
them in its live view, with longer lists.

Deterministic whole-word matching, case-insensitive; multi-word terms win over their parts
("chest pain" rather than "pain"). Each match is read in its sentence by the assertion
check (``shared.evidence.assertion``): a flag is kept when the patient has it
(``assertion="present"``, past history included) or denied it (``"negated"``, shown as
"denies: fever, chest pain"); a question, a family member's problem, a possibility or a
"call if" is not a flag. A flag is a hint for the live view and the reviewer, not a
clinical finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shared.contracts import Flag, FlagAssertion, FlagKind
from shared.evidence.assertion import read_spans, sentence_spans
from shared.guard import DRUG_NAMES

MEDICATION_TERMS: frozenset[str] = DRUG_NAMES | frozenset(
    {
        "antibiotic", "antibiotics", "statin", "beta blocker", "ace inhibitor", "diuretic",
        "inhaler", "steroid", "steroids", "antidepressant", "blood thinner", "painkiller",
        "painkillers", "birth control", "chemotherapy", "nsaid", "nsaids", "opioid",
        # The guide's own medication keywords (a superset of them is kept):
        "prescribe", "prescribed", "prescribing", "prescription", "dosage", "dose", "mg",
        "daily",
    }
)  # fmt: skip

SYMPTOM_TERMS: frozenset[str] = frozenset(
    {
        "pain", "chest pain", "abdominal pain", "back pain", "joint pain", "headache",
        "migraine", "fever", "chills", "cough", "shortness of breath", "short of breath",
        "wheezing", "nausea", "vomiting", "diarrhea", "constipation", "dizziness", "dizzy",
        "fatigue", "tired", "weakness", "numbness", "tingling", "swelling", "rash", "itching",
        "palpitations", "sore throat", "congestion", "runny nose", "blurry vision",
        "bleeding", "bruising", "insomnia", "anxiety", "weight loss", "weight gain",
        "heartburn", "cramping", "stiffness", "fainting", "confusion", "night sweats",
        "frequent urination", "burning", "discomfort", "tenderness",
        "complaint", "complaints", "complains", "complaining",  # the guide's keyword
    }
)  # fmt: skip

DIAGNOSIS_TERMS: frozenset[str] = frozenset(
    {
        "hypertension", "high blood pressure", "diabetes", "type 2 diabetes",
        "prediabetes", "hyperlipidemia", "high cholesterol", "asthma", "copd",
        "pneumonia", "bronchitis", "sinusitis", "influenza", "covid", "covid-19",
        "urinary tract infection", "uti", "depression", "anxiety disorder",
        "hypothyroidism", "hyperthyroidism", "atrial fibrillation", "afib",
        "heart failure", "coronary artery disease", "angina", "myocardial infarction",
        "heart attack", "stroke", "migraine disorder", "osteoarthritis", "arthritis",
        "rheumatoid arthritis", "gout", "osteoporosis", "gerd", "reflux", "kidney disease",
        "chronic kidney disease", "anemia", "obesity", "sleep apnea", "cancer", "dementia",
        "cellulitis", "fracture", "sprain", "concussion", "allergic rhinitis", "eczema",
        "psoriasis", "neuropathy", "kidney stone", "kidney stones", "appendicitis",
        "diagnose", "diagnosed", "diagnosis", "impression",  # the guide's keywords
    }
)  # fmt: skip

_LISTS: tuple[tuple[FlagKind, frozenset[str]], ...] = (
    ("medication", MEDICATION_TERMS),
    ("diagnosis", DIAGNOSIS_TERMS),
    ("symptom", SYMPTOM_TERMS),
)


def _pattern(terms: Iterable[str]) -> re.Pattern[str]:
    # Longest first so the alternation prefers "chest pain" over "pain".
    ordered = sorted(terms, key=lambda t: (-len(t), t))
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(t) for t in ordered) + r")(?![\w-])")


_UNIT = re.compile(r"(\d)(mg)\b")
_PATTERNS = tuple((kind, _pattern(terms)) for kind, terms in _LISTS)


def _matches(low: str) -> list[tuple[int, int, FlagKind]]:
    found: list[tuple[int, int, FlagKind]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(low):
            start, end = m.span()
            if any(start < e and s < end for s, e, _ in found):
                continue
            found.append((start, end, kind))
    return sorted(found)


def _read(sentence: str) -> list[tuple[FlagKind, str, FlagAssertion]]:
    matches = _matches(sentence)
    read = read_spans(sentence, tuple((s, e) for s, e, _ in matches))
    out: list[tuple[FlagKind, str, FlagAssertion]] = []
    for (start, end, kind), said in zip(matches, read, strict=True):
        if said is None or said[1] != "patient":
            continue
        if said[0] in ("present", "historical"):
            out.append((kind, sentence[start:end], "present"))
        elif said[0] == "negated":
            out.append((kind, sentence[start:end], "negated"))
    return out


def flags_for(text: str) -> tuple[Flag, ...]:
    """Flags in order of first appearance; each (kind, term) once, terms lower-case."""
    low = _UNIT.sub(r"\1 \2", text.lower())  # "40mg" reads as "40 mg"
    result: dict[tuple[str, str], Flag] = {}
    for start, end in sentence_spans(low):
        for kind, term, assertion in _read(low[start:end]):
            if (kind, term) not in result or assertion == "present":
                # Said present once in the turn: present ("no fever now, fever last night").
                result[(kind, term)] = Flag(kind=kind, term=term, assertion=assertion)
    return tuple(result.values())


def present(flags: tuple[Flag, ...]) -> tuple[Flag, ...]:
    return tuple(f for f in flags if f.assertion == "present")


def denied(flags: tuple[Flag, ...]) -> tuple[Flag, ...]:
    return tuple(f for f in flags if f.assertion == "negated")
