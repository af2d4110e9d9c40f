"""Numbers as written and as spoken: "500", "1,000", "five hundred", "one fifty", "a half".

Moved here from ``shared.guard`` so the per-turn guard and the note checker read numbers
the same way. A spoken run may mean several values ("one fifty" is 150 or 1 and 50), so
readings are sets; the source side is read generously, the claim side strictly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

NUMBER_WORDS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_TENS = frozenset({20, 30, 40, 50, 60, 70, 80, 90})
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
DIGITS = re.compile(r"(?<![A-Za-z])\d+(?:,\d{3})*(?:\.\d+)?")  # not the 2 of "O2", "A1c"
# "a half", "one and a half": fractions spoken as words count as the value 0.5.
_HALF = re.compile(r"\bhalf\b")
_AND_A_HALF = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r") and a half\b")
# A range sharing its scale word: "five or six hundred", "three to four thousand".
_DIGIT_WORDS = "one|two|three|four|five|six|seven|eight|nine"
_PLURAL_SCALE = re.compile(rf"\b({_DIGIT_WORDS})\s+(hundred|thousand)s\b")
_SHARED_SCALE = re.compile(
    rf"\b({_DIGIT_WORDS})\s+(?:or|to|-)\s+(?:{_DIGIT_WORDS})\s+(hundred|thousand)s?\b"
)


def norm(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def digits_value(token: str) -> str:
    """ "1,000" -> "1000", "2.50" -> "2.5"."""
    return norm(float(token.replace(",", "")))


def is_number_word(word: str) -> bool:
    return word in NUMBER_WORDS or word in SCALES


def number_runs(text: str) -> list[list[str]]:
    """Runs of consecutive number words ("five hundred and twenty")."""
    runs: list[list[str]] = []
    run: list[str] = []
    for word in [*WORD.findall(text.lower()), ""]:
        if is_number_word(word) or (word == "and" and run):
            run.append(word)
            continue
        while run and run[-1] == "and":
            run.pop()
        if run:
            runs.append(run)
        run = []
    return runs


def run_readings(run: list[str]) -> set[str]:
    """What a run of number words can mean as a whole: its value ("five hundred" -> 500)
    or a digit-by-digit reading ("one fifty" -> 150, "two thirty" -> 230)."""
    total, current = 0, 0
    for word in run:
        if word in NUMBER_WORDS:
            current += NUMBER_WORDS[word]
        elif word in SCALES:
            current = max(current, 1) * SCALES[word]
            if SCALES[word] >= 1000:
                total, current = total + current, 0
    readings = {str(total + current)}
    digits = [str(NUMBER_WORDS[w]) for w in run if w in NUMBER_WORDS]
    if len(digits) > 1 and not any(w in SCALES for w in run):
        readings.add("".join(digits))
        # Said in groups, a tens word joined to its unit: "one thirty two" -> 132,
        # "two twenty five" -> 225, "twenty twenty two" -> 2022.
        groups: list[int] = []
        for w in run:
            value = NUMBER_WORDS.get(w)
            if value is None:
                continue
            if groups and groups[-1] in _TENS and 1 <= value <= 9:
                groups[-1] += value
            else:
                groups.append(value)
        if len(groups) > 1:
            readings.add("".join(map(str, groups)))
    return readings


def spoken_numbers(text: str) -> set[str]:
    """Every value the number words of ``text`` may stand for: each word alone, each
    adjacent pair read digit by digit, and each whole run."""
    values: set[str] = set()
    for run in number_runs(text):
        values |= run_readings(run)
        digits = [str(NUMBER_WORDS[w]) for w in run if w in NUMBER_WORDS]
        values.update(digits)
        values.update(a + b for a, b in pairwise(digits))
    low = text.lower()
    if _HALF.search(low):
        values.add("0.5")
    for m in _AND_A_HALF.finditer(low):
        values.add(norm(NUMBER_WORDS[m.group(1)] + 0.5))
    for m in _SHARED_SCALE.finditer(low):  # "five or six hundred": 500 too
        values.add(str(NUMBER_WORDS[m.group(1)] * SCALES[m.group(2)]))
    for m in _PLURAL_SCALE.finditer(low):  # "in the four hundreds": 400
        values.add(str(NUMBER_WORDS[m.group(1)] * SCALES[m.group(2)]))
    return values | spoken_decimals(low)


def decimals_after(words: Sequence[str], j: int) -> tuple[str, int]:
    """The digits spoken after a "point" at ``words[j]`` ("point two five" -> "25") and
    where they end; ("", j) when there is none."""
    if j >= len(words) or words[j] != "point":
        return "", j
    k, digits = j + 1, ""
    while k < len(words) and NUMBER_WORDS.get(words[k], 10) <= 9:
        digits += str(NUMBER_WORDS[words[k]])
        k += 1
    return (digits, k) if digits else ("", j)


def spoken_decimals(text: str) -> set[str]:
    """ "point five" -> 0.5, "one oh one point five" -> 101.5 (and 2.5: the run read as
    a sum), "two point five" -> 2.5: the run before "point" and the digits after it."""
    words = WORD.findall(text.lower())
    values: set[str] = set()
    for i in range(len(words)):
        decimals, _end = decimals_after(words, i)
        if not decimals:
            continue
        start = i
        while start > 0 and is_number_word(words[start - 1]):
            start -= 1
        wholes = run_readings(words[start:i]) if start < i else {"0"}
        values.update(norm(float(f"{whole}.{decimals}")) for whole in wholes)
    return values


def numbers_in(text: str) -> set[str]:
    """Numbers written with digits, normalised ("1,000" -> "1000", "2.50" -> "2.5")."""
    return {digits_value(m) for m in DIGITS.findall(text)}


def said_numbers(text: str) -> set[str]:
    """Every value ``text`` may have said, in digits or in words (the generous reading)."""
    return numbers_in(text) | spoken_numbers(text)
