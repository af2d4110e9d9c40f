"""Durations ("for 2 weeks", "a couple of months") and a habit's amounts ("half a pack a
day", "20 pack-years"), read from tokens: values, unit, and the tokens they cover.

Durations compare in days ("two weeks" = "14 days"); amounts compare by what is counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.evidence import numbers as num
from shared.evidence.tokens import Num, word

# A duration in days, so "two weeks" and "14 days" are the same (months and years roughly).
_DAYS: dict[str, float] = {
    "s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.4, "y": 365.0,
}  # fmt: skip
_SAME_DURATION = 0.1  # relative difference within which two durations are one


def in_days(value: str, unit: str) -> float:
    return float(value) * _DAYS[unit]


def same_duration(a: float, b: float) -> bool:
    return abs(a - b) <= _SAME_DURATION * max(a, b)


def is_age(toks: list[tuple[str, str]], unit_at: int) -> bool:
    """ "45 years old", "45-year-old", "45 years of age": an age, not a duration."""
    after = [t for _, t in toks[unit_at + 1 : unit_at + 3]]
    return after[:1] == ["old"] or after == ["of", "age"]


# "I'm 54", "you're fifty four", "I just turned 60": the patient's age (said in the first or
# second person: "my son, he's 12" is someone else's), unless a unit, a share or another
# number follows ("I'm 5 foot 6", "I'm 3 weeks pregnant", "I'm 100 percent sure").
_SELF = frozenset({"i'm", "you're"})
_SELF_PAIRS = frozenset({("i", "am"), ("you", "are"), ("i", "turned"), ("you", "turned"),
                         ("just", "turned"), ("i'll", "be"), ("i", "turn")})  # fmt: skip
_NOT_AN_AGE_AFTER = frozenset({
    "foot", "feet", "ft", "inches", "inch", "pounds", "pound", "lbs", "lb", "kilos", "kg",
    "percent", "of", "out", "times", "cm", "mg", "milligrams", "points", "point", "degrees",
    "and", "or", "to", "for", "pregnant", "minutes", "late", "early",
})  # fmt: skip
_OLDEST_AGE = 120


def age_of(toks: list[tuple[str, str]], n: Num, *, said: bool) -> bool:
    """Whether the number ``n`` is an age: "45 years old", "45-year-old", "45 years of
    age", "45 yo", "age 45", "aged 45"; on the visit's side (``said``) only the patient's own
    ("I'm 54", "you're fifty four", "I just turned 60"), as a visit names other people's
    ages too ("my daughter is 16 years old")."""
    if not any(float(v) <= _OLDEST_AGE for v in n.strict):
        return False
    nxt = word(toks, n.end)
    prev, before = word(toks, n.start - 1), word(toks, n.start - 2)
    if said:
        if nxt in _NOT_AN_AGE_AFTER or nxt in TIME_UNITS and not is_age(toks, n.end):
            return False
        if n.end < len(toks) and toks[n.end][0] == "n":
            return False
        if prev in _SELF or (before, prev) in _SELF_PAIRS:
            return True
        # "you're a fifty four year old", "I am a 45-year-old": the patient's, said as an age
        near = [word(toks, k) for k in range(n.start - 3, n.start)]
        return _age_form(toks, n) and (bool(_SELF & set(near)) or "am" in near)
    return _age_form(toks, n) or prev in ("age", "aged")


def _age_form(toks: list[tuple[str, str]], n: Num) -> bool:
    nxt = word(toks, n.end)
    return nxt in ("yo", "y") or (TIME_UNITS.get(nxt) == "y" and is_age(toks, n.end))


def recent_units(toks: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """ "last week", "the past month": about one unit of time; "yesterday", "last night":
    a day, "the day before yesterday" two (read only on the said side: "since last week"
    in a note is a date, not a length)."""
    found = {
        ("1", unit)
        for i in range(1, len(toks))
        if toks[i - 1][1] in ("last", "past") and (unit := _unit_at(toks, i))
    }
    words = [t for _, t in toks]
    for i, w in enumerate(words):
        if w == "yesterday":
            found.add(("2", "d") if words[max(0, i - 3) : i] == ["the", "day", "before"]
                      else ("1", "d"))  # fmt: skip
        elif w == "night" and i and words[i - 1] == "last":
            found.add(("1", "d"))
    return found


TIME_UNITS: dict[str, str] = {
    "second": "s", "seconds": "s", "sec": "s", "secs": "s", "minute": "min", "minutes": "min",
    "min": "min", "mins": "min", "hour": "h", "hours": "h", "hr": "h", "hrs": "h",
    "day": "d", "days": "d", "week": "wk", "weeks": "wk", "wk": "wk", "wks": "wk",
    "month": "mo", "months": "mo", "mo": "mo", "mos": "mo", "year": "y", "years": "y",
    "yr": "y", "yrs": "y",
}  # fmt: skip

# Durations said without digits. (strict, generous) values for a count word before a unit
# of time: "a couple of weeks", "a few days", "several months".
_COUNT_WORDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "couple": (frozenset({"2"}), frozenset({"2", "3"})),
    "few": (frozenset({"2", "3", "4"}), frozenset({"2", "3", "4", "5"})),
    "several": (frozenset({"3", "4", "5", "6", "7"}), frozenset({"3", "4", "5", "6", "7"})),
}
# "a week" is a duration after these words ("for a week", "about a month", "in a day or
# two", "it's been a year") or before "ago", "now", "or", "and a half"; not in "twice a
# day", "two drinks a week", "a mile a day" (a rate).
_ONE_UNIT_BEFORE = frozenset({
    "for", "about", "around", "approximately", "roughly", "almost", "nearly", "over", "than",
    "within", "in", "like", "maybe", "probably", "just", "only", "least", "been", "after",
    "already", "under", "lasted", "lasting", "took", "since", "x", "past", "last", "another",
    "whole", "entire",
})  # fmt: skip
_ONE_UNIT_AFTER = frozenset({"ago", "now", "or", "and", "long", "later", "earlier"})


# The words a quantity in words can start with (most tokens start none: skipped at once).
_WORDED_START = frozenset({"a", "an", "half", *_COUNT_WORDS})


@dataclass(frozen=True)
class Quantity:
    """A duration or a counted amount: its tokens, values and unit."""

    start: int  # first token
    end: int  # token after the unit
    strict: frozenset[str]
    generous: frozenset[str]
    unit: str  # TIME_UNITS or COUNT_NOUNS value
    numbers: frozenset[int] = frozenset()  # start tokens of the digits or number words in it

    def text(self, toks: list[tuple[str, str]]) -> str:
        return " ".join(t for _, t in toks[self.start : self.end])


def _unit_at(toks: list[tuple[str, str]], i: int) -> str:
    return TIME_UNITS.get(toks[i][1], "") if i < len(toks) and toks[i][0] == "w" else ""


def _per_unit(toks: list[tuple[str, str]], i: int) -> bool:
    """ "a week" in "three days a week", "per day" in "12 hours per day": a share of each
    period (how often), not a length of time."""
    return word(toks, i) in ("a", "an", "per", "each", "every") and bool(_unit_at(toks, i + 1))


def _ranged(toks: list[tuple[str, str]], nums: list[Num], n: Num, end: int, unit: str) -> Quantity:
    """The quantity ``n`` starts, with the number before it when the two are a range: "2 to
    3 weeks", "two or three beers", "2-3 months" (the dash is dropped)."""
    strict, generous, start, covered = set(n.strict), set(n.generous), n.start, {n.start}
    for joiner in (1, 2):
        before = next((m for m in nums if m.end == n.start - joiner + 1), None)
        link = word(toks, n.start - 1) if joiner == 2 else ""
        if before is not None and (joiner == 1 or link in ("to", "or")):
            strict |= before.strict
            generous |= before.generous
            start, covered = before.start, covered | {before.start}
            break
    return Quantity(start, end, frozenset(strict), frozenset(generous), unit, frozenset(covered))


def durations(toks: list[tuple[str, str]], nums: list[Num]) -> list[Quantity]:
    """Every duration of a text, in reading order: a number with a unit of time ("2 weeks",
    "two and a half months", "2 to 3 days", "x2 weeks") or words ("a week", "a couple of
    months", "a few days", "half a year", "a week and a half", "a day or two"). Ages ("45
    years old") are not durations."""
    found: list[Quantity] = []
    by_start = {n.start: n for n in nums}
    for n in nums:
        unit = _unit_at(toks, n.end)
        if not unit or is_age(toks, n.end) or _per_unit(toks, n.end + 1):
            continue
        found.append(_ranged(toks, nums, n, n.end + 1, unit))
    taken = {i for d in found for i in range(d.start, d.end)}
    for i, (_, tok) in enumerate(toks):
        if tok not in _WORDED_START or i in taken:
            continue
        got = _worded_duration(toks, i, by_start)
        if got is not None and not taken & set(range(got.start, got.end)):
            found.append(got)
            taken |= set(range(got.start, got.end))
    return sorted(found, key=lambda d: d.start)


def _worded_duration(
    toks: list[tuple[str, str]], i: int, by_start: dict[int, Num]
) -> Quantity | None:
    """A duration in words starting at token ``i``, or None."""
    tok = word(toks, i)
    article = tok in ("a", "an")
    at = i + 1 if article else i
    count = word(toks, at)
    if count in _COUNT_WORDS:  # "a couple of weeks", "few days", "several months"
        j = at + 2 if word(toks, at + 1) == "of" else at + 1
        unit = _unit_at(toks, j)
        if not unit or (count == "few" and not article):
            return None  # "few days" alone says "not many"
        strict, generous = _COUNT_WORDS[count]
        return Quantity(i, j + 1, strict, generous, unit)
    if tok == "half" and word(toks, i + 1) in ("a", "an"):  # "half a year", "half an hour"
        unit = _unit_at(toks, i + 2)
        half = frozenset({"0.5"})
        return Quantity(i, i + 3, half, half, unit) if unit else None
    if not article:
        return None
    if word(toks, i + 1) == "half":  # "a half hour"
        unit = _unit_at(toks, i + 2)
        half = frozenset({"0.5"})
        return Quantity(i, i + 3, half, half, unit) if unit else None
    unit = _unit_at(toks, i + 1)
    if not unit or is_age(toks, i + 1):
        return None
    after = word(toks, i + 2)
    if word(toks, i - 1) not in _ONE_UNIT_BEFORE and after not in _ONE_UNIT_AFTER:
        return None
    if [word(toks, k) for k in range(i + 2, i + 5)] == ["and", "a", "half"]:
        one = frozenset({"1.5"})  # "a week and a half"
        return Quantity(i, i + 5, one, one, unit)
    values, end = {"1"}, i + 2
    other = by_start.get(i + 3)
    if after == "or" and other is not None:  # "a day or two"
        values |= other.strict
        end = other.end
        return Quantity(i, end, frozenset(values), frozenset(values | other.generous), unit,
                         frozenset({other.start}))  # fmt: skip
    return Quantity(i, end, frozenset(values), frozenset(values), unit)


# Things counted in a habit's amount: "a pack a day", "two beers", "20 pack-years".
COUNT_NOUNS: dict[str, str] = {
    "pack": "pack", "packs": "pack", "ppd": "pack", "cigarette": "cigarette",
    "cigarettes": "cigarette", "cigs": "cigarette", "cigar": "cigar", "cigars": "cigar",
    "drink": "drink", "drinks": "drink", "beer": "beer", "beers": "beer", "glass": "glass",
    "glasses": "glass", "cups": "cup", "cup": "cup", "cans": "can", "bottles": "bottle",
    "bottle": "bottle", "joints": "joint", "joint": "joint",
}  # fmt: skip


def _noun_at(toks: list[tuple[str, str]], i: int) -> tuple[str, int]:
    """The counted thing at token ``i`` and the token after it ("pack years" is one)."""
    noun = COUNT_NOUNS.get(word(toks, i), "") if i < len(toks) and toks[i][0] == "w" else ""
    if noun == "pack" and word(toks, i + 1) in ("year", "years"):
        return "pack-year", i + 2
    return noun, i + 1


def amounts(toks: list[tuple[str, str]], nums: list[Num], *, said: bool) -> list[Quantity]:
    """Counted amounts: "two packs", "1 ppd", "20 pack-years", "a couple of beers", "half a
    pack". ``said`` (the visit's side) also reads an article as one ("a pack a day"); a
    note's "has a drink now and then" claims no amount."""
    found: list[Quantity] = []
    ends = {n.end: n for n in nums}
    for n in nums:
        noun, end = _noun_at(toks, n.end)
        if not noun:
            continue
        over = ends.get(n.start - 1) if word(toks, n.start - 1) == "/" else None
        if over is not None:  # "1/2 ppd": a fraction
            half = {num.norm(float(a) / float(b)) for a in over.strict for b in n.strict
                    if float(b)}  # fmt: skip
            found.append(Quantity(over.start, end, frozenset(half), frozenset(half), noun,
                                   frozenset({over.start, n.start})))  # fmt: skip
            continue
        found.append(_ranged(toks, nums, n, end, noun))
    taken = {i for q in found for i in range(q.start, q.end)}
    for i, (_, tok) in enumerate(toks):
        if tok not in _WORDED_START or i in taken:
            continue
        article = tok in ("a", "an")
        at = i + 1 if article else i
        values: tuple[frozenset[str], frozenset[str]] | None = None
        if word(toks, at) in _COUNT_WORDS and (article or word(toks, at) != "few"):
            values = _COUNT_WORDS[word(toks, at)]
            at += 2 if word(toks, at + 1) == "of" else 1
        elif tok == "half" and word(toks, i + 1) in ("a", "an"):
            values, at = (frozenset({"0.5"}),) * 2, i + 2
        elif article and (said or word(toks, at) in ("pack", "ppd")):
            values = (frozenset({"1"}),) * 2
        if values is None:
            continue
        noun, end = _noun_at(toks, at)
        if noun:
            if [word(toks, k) for k in range(end, end + 3)] == ["and", "a", "half"]:
                values, end = (frozenset({"1.5"}),) * 2, end + 3  # "a pack and a half"
            found.append(Quantity(i, end, values[0], values[1], noun))
            taken |= set(range(i, end))
    return sorted(found, key=lambda q: q.start)
