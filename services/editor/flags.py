"""Keyword flags per turn (medication, symptom, diagnosis), as the original guide showed
them in its live view, with longer lists.

Deterministic whole-word matching, case-insensitive; multi-word terms win over their parts
("chest pain" rather than "pain"). A flag is a hint for the live view and the reviewer,
not a clinical finding: negation ("denies chest pain") is not interpreted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shared.contracts import Flag, FlagKind
from shared.guard import DRUG_NAMES

MEDICATION_TERMS: frozenset[str] = DRUG_NAMES | frozenset(
    {
        "antibiotic", "antibiotics", "statin", "beta blocker", "ace inhibitor", "diuretic",
        "inhaler", "steroid", "steroids", "antidepressant", "blood thinner", "painkiller",
        "painkillers", "birth control", "chemotherapy", "nsaid", "nsaids", "opioid",
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


_PATTERNS = tuple((kind, _pattern(terms)) for kind, terms in _LISTS)


def flags_for(text: str) -> tuple[Flag, ...]:
    """Flags in order of first appearance; each (kind, term) once, terms lower-case."""
    low = text.lower()
    found: list[tuple[int, Flag]] = []
    taken: list[tuple[int, int]] = []  # spans already matched by an earlier list
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(low):
            span = m.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            taken.append(span)
            found.append((span[0], Flag(kind=kind, term=m.group(1))))
    seen: set[tuple[str, str]] = set()
    result: list[Flag] = []
    for _, flag in sorted(found, key=lambda item: item[0]):
        if (flag.kind, flag.term) not in seen:
            seen.add((flag.kind, flag.term))
            result.append(flag)
    return tuple(result)
