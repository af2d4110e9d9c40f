"""Is a drug name a plausible correction of something the speech recognizer heard?

Speech recognition splits and respells drug names ("a tour of a statin" for atorvastatin,
"a mocks a cillin" for amoxicillin, "lisa nopril" for lisinopril). A drug in an edit that
no span of the turn sounds or looks like was invented; one that some span of up to five
heard words matches, by spelling (rapidfuzz) or by sound (jellyfish's Metaphone, with a
looser spelling check so that unrelated words do not pass), is a correction.

A span that is itself a known drug name is never "misheard" as another drug: swapping one
real drug for a similar one (hydroxyzine / hydralazine) is a change of medication, not a
fix, and stays rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import jellyfish
from rapidfuzz import fuzz

MAX_SPAN_WORDS = 5
SPELLING = 84.0  # rapidfuzz ratio: "metforman" ~ "metformin" (89); "strained" !~ "sertraline" (78)
SOUND = 85.0  # Metaphone codes this close sound alike ...
SOUND_SPELLING = 58.0  # ... when the letters are at least this close too;
SAME_SOUND_SPELLING = 45.0  # identical codes ("doxy sigh clean") need less of the letters
MIN_CODE = 4  # codes shorter than this say too little to rely on
_LENGTH = (0.7, 1.6)  # span length / drug length


@lru_cache(maxsize=4096)
def _code(word: str) -> str:
    return jellyfish.metaphone(word)


def close(drug: str, heard: str) -> bool:
    """One candidate span (letters only, joined) against one drug name."""
    if not _LENGTH[0] <= len(heard) / len(drug) <= _LENGTH[1]:
        return False
    spelling = fuzz.ratio(drug, heard)
    if spelling >= SPELLING:
        return True
    code, heard_code = _code(drug), _code(heard)
    if len(code) < MIN_CODE or spelling < SAME_SOUND_SPELLING:
        return False
    if code == heard_code:
        return True
    return spelling >= SOUND_SPELLING and fuzz.ratio(code, heard_code) >= SOUND


def spans(words: Sequence[str], max_words: int = MAX_SPAN_WORDS) -> list[str]:
    """Runs of 1..max_words consecutive words, joined without spaces."""
    out = []
    for i in range(len(words)):
        for k in range(1, max_words + 1):
            if i + k > len(words):
                break
            out.append("".join(words[i : i + k]))
    return out


def sounds_like(drug: str, words: Sequence[str], known: frozenset[str]) -> bool:
    """True when a span of ``words`` (not itself a ``known`` drug) is close to ``drug``."""
    drug = drug.lower()
    for span in spans(words):
        if span in known and span != drug:
            continue
        if close(drug, span):
            return True
    return False
