"""A text as tokens, and the numbers in them (digits, words, decimals) with their readings.

Shared by the claim reader (``terms``) and the durations and amounts reader
(``quantities``): both must see the same numbers at the same token positions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from shared.evidence import numbers as num

# Punctuation is kept as a token (p) so a spoken number never runs across a sentence.
# A word with digits after its first letter is a name, not a value: "o2", "a1c", "b12", "t4".
# Only "x2 weeks" ("for two weeks" in clinicians' shorthand) splits: "x" is then a token of
# its own ("x" kind) and the 2 a duration.
_TOKEN = re.compile(
    r"(?P<n>\d+(?:,\d{3})*(?:\.\d+)?)|"
    r"(?P<x>(?<![a-z])x(?=\s?\d+(?:\.\d+)?\s?(?:sec|min|h|hr|hour|d|day|wk|week|mo|month|y|yr|year)s?\b))|"
    r"(?P<w>[a-z]+\d[a-z\d]*|[a-z]+(?:'[a-z]+)?)|(?P<s>/)|(?P<p>[.,;:!?])"
)


@dataclass
class Num:
    """A number as it stands in the tokens: where, its strict and generous readings."""

    start: int  # token index of the first word
    end: int  # token index after the last
    strict: set[str]
    generous: set[str]
    text: str


def tokens(text: str) -> list[tuple[str, str]]:
    """(kind, token) with kind n (digits), w (word), s (slash) or p (punctuation)."""
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text.lower()):
        kind = m.lastgroup or "w"
        out.append((kind, m.group(0)))
    return out


def _number_word_at(toks: list[tuple[str, str]], i: int) -> bool:
    return i < len(toks) and num.is_number_word(toks[i][1])


def number_spans(toks: list[tuple[str, str]]) -> list[Num]:
    """Every number of the tokens, digits or words ("five hundred", "two point five",
    "one and a half"), in reading order."""
    found: list[Num] = []
    words = [t if kind == "w" else "" for kind, t in toks]  # for decimals_after
    i = 0
    while i < len(toks):
        kind, tok = toks[i]
        if kind == "n":
            value = num.digits_value(tok)
            found.append(Num(i, i + 1, {value}, {value}, tok))
            i += 1
            continue
        decimals, end = num.decimals_after(words, i)
        if decimals:  # "point five"
            value = num.norm(float(f"0.{decimals}"))
            found.append(Num(i, end, {value}, {value}, " ".join(t for _, t in toks[i:end])))
            i = end
            continue
        if kind == "w" and num.is_number_word(tok) and tok != "oh":
            j = i
            while (
                j < len(toks)
                and toks[j][0] == "w"
                and (
                    num.is_number_word(toks[j][1])
                    or (toks[j][1] == "and" and _number_word_at(toks, j + 1))
                )
            ):
                j += 1
            run = [t for _, t in toks[i:j]]
            strict = num.run_readings(run)
            # "one and a half", "two and a half"
            if [t for _, t in toks[j : j + 3]] == ["and", "a", "half"]:
                strict = {num.norm(float(v) + 0.5) for v in strict}
                j += 3
            digits = [str(num.NUMBER_WORDS[w]) for w in run if w in num.NUMBER_WORDS]
            generous = strict | set(digits) | {a + b for a, b in pairwise(digits)}
            decimals, end = num.decimals_after(words, j)
            if decimals:  # "two point five", "one oh one point five"
                strict = {num.norm(float(f"{v}.{decimals}")) for v in strict}
                generous |= strict
                j = end
            found.append(Num(i, j, strict, generous, " ".join(t for _, t in toks[i:j])))
            i = j
            continue
        i += 1
    return found


def word(toks: list[tuple[str, str]], i: int) -> str:
    return toks[i][1] if 0 <= i < len(toks) else ""
