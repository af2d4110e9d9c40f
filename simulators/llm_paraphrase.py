"""Paraphrase mode of the LLM simulator: statements restated as a clinician writes them.

The extractive note copies sentences verbatim, which no real model does. In this mode
each statement is rewritten the way notes abbreviate (spoken numbers in digits, "blood
pressure" -> "BP", "twice a day" -> "BID", "milligrams" -> "mg", brand -> generic name,
fillers dropped) without changing a fact, so an evaluation measures the checker's false
alarms on restated, true statements.
"""

from __future__ import annotations

import re

from shared.evidence.lexicon import BRAND_GENERIC
from shared.evidence.numbers import NUMBER_WORDS, SCALES

_PHRASES = (
    (r"\btwice a day\b|\btwo times a day\b|\btwice daily\b", "BID"),
    (r"\bthree times a day\b", "TID"),
    (r"\bfour times a day\b", "QID"),
    (r"\bonce a day\b|\bonce daily\b|\bevery day\b", "daily"),
    (r"\bas needed\b", "PRN"),
    (r"\bblood pressure\b", "BP"),
    (r"\bheart rate\b", "HR"),
    (r"\bmilligrams?\b", "mg"),
    (r"\bmicrograms?\b", "mcg"),
    (r"\b(?:um|uh|uhm|you know|like i said|kind of|sort of)\b,?\s*", ""),
)
_WORDS = re.compile(r"[A-Za-z]+|[^A-Za-z]+")
_HALF = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r") and a half\b", re.IGNORECASE)
_TENS = {"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}
_TEENS = {w for w, v in NUMBER_WORDS.items() if 10 <= v <= 19}


def spoken_to_digits(run: str) -> str:
    """ "five hundred" -> "500", "one twenty" -> "120" (a clinician's reading of a blood
    pressure), "seventy two" -> "72"."""
    words = [w for w in run.lower().split() if w != "and"]
    if any(w == "oh" for w in words) or not words:
        return run
    if (
        len(words) == 2
        and 1 <= NUMBER_WORDS.get(words[0], 0) <= 9
        and (words[1] in _TENS or words[1] in _TEENS)
    ):
        return f"{NUMBER_WORDS[words[0]]}{NUMBER_WORDS[words[1]]}"
    total, current = 0, 0
    for w in words:
        if w in NUMBER_WORDS:
            current += NUMBER_WORDS[w]
        else:
            current = max(current, 1) * SCALES[w]
            if SCALES[w] >= 1000:
                total, current = total + current, 0
    return str(total + current)


def _number_runs_to_digits(text: str) -> str:
    """Each run of number words ("five hundred and twenty") replaced by its digits."""
    parts = _WORDS.findall(text)
    out: list[str] = []
    i = 0
    while i < len(parts):
        j, run = i, []
        while j < len(parts):
            word = parts[j].lower()
            if word in NUMBER_WORDS or word in SCALES:
                run.append(parts[j])
                j += 1
            elif parts[j].isspace() and run:
                j += 1
            elif word == "and" and run and j + 2 < len(parts):
                if parts[j + 2].lower() not in NUMBER_WORDS:
                    break
                run.append(parts[j])
                j += 1
            else:
                break
        if run and run[0].lower() != "oh":
            trailing = parts[j - 1] if parts[j - 1].isspace() else ""
            out.append(spoken_to_digits(" ".join(run)) + trailing)
            i = j
        else:
            out.append(parts[i])
            i += 1
    return "".join(out)


def paraphrase(text: str) -> str:
    out = _HALF.sub(lambda m: f"{NUMBER_WORDS[m.group(1).lower()]}.5", text)
    for pattern, repl in _PHRASES:
        out = re.sub(pattern, repl, out, flags=re.IGNORECASE)
    out = _number_runs_to_digits(out)
    out = re.sub(r"\b(\d{2,3}) over (\d{2,3})\b", r"\1/\2", out)
    for brand, generic in BRAND_GENERIC.items():
        out = re.sub(rf"\b{brand}\b", generic, out, flags=re.IGNORECASE)
    out = re.sub(r",(\s*,)+", ",", " ".join(out.split()))
    out = re.sub(r"\s+([,.;:!?])", r"\1", out).strip(" ,")
    return out[:1].upper() + out[1:] if out else text
