"""Clinical terms of a text: doses, vital signs, numbers, frequencies, sides, drugs, problems.

``claims(text)`` reads a note statement strictly (what exactly does it assert?);
``Support.of(text)`` reads what was said generously (every value the words may mean), so
a restatement in other words ("five hundred milligrams" -> "500 mg", "one twenty over
eighty" -> "120/80", "twice a day" -> "BID", "Tylenol" -> "acetaminophen") is supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from shared.evidence import numbers as num
from shared.evidence import soundalike
from shared.evidence.lexicon import (
    BRAND_GENERIC,
    DOSE_UNITS,
    DRUG_NAMES,
    FREQUENCIES,
    LAB_WORDS,
    PROBLEM_GROUPS,
    TO_MG,
    VITAL_WORDS,
)
from shared.evidence.sides import side_mentions

Kind = Literal[
    "dose", "drug", "number", "unit", "frequency", "laterality", "problem", "vital", "duration",
    "lab", "amount",
    # Meaning checks (shared.evidence.meaning): the words match, what they say does not.
    "negation", "experiencer", "temporality", "action", "allergy",
]  # fmt: skip

# Punctuation is kept as a token (p) so a spoken number never runs across a sentence.
# A word with digits after its first letter is a name, not a value: "o2", "a1c", "b12", "t4".
# Only "x2 weeks" ("for two weeks" in clinicians' shorthand) splits: "x" is then a token of
# its own ("x" kind) and the 2 a duration.
_TOKEN = re.compile(
    r"(?P<n>\d+(?:,\d{3})*(?:\.\d+)?)|"
    r"(?P<x>(?<![a-z])x(?=\s?\d+(?:\.\d+)?\s?(?:sec|min|h|hr|hour|d|day|wk|week|mo|month|y|yr|year)s?\b))|"
    r"(?P<w>[a-z]+\d[a-z\d]*|[a-z]+(?:'[a-z]+)?)|(?P<s>/)|(?P<p>[.,;:!?])"
)
# Words after which a number names a thing ("type 2", "stage 3"): never a checked value.
_NAME_NUMBER = frozenset({"type", "stage", "grade", "class", "covid", "tier", "phase"})
# "as needed" says when, not how much: flagging it only teaches people to ignore flags.
_UNCHECKED_FREQUENCIES = frozenset({"prn"})
_VITAL_REACH = 4  # a number this many tokens after "heart rate" is a heart rate


def _phrase_pattern(phrases: list[str]) -> re.Pattern[str]:
    ordered = sorted(phrases, key=lambda p: (-len(p), p))  # longest first
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(p) for p in ordered) + r")(?![\w-])")


_FREQ = _phrase_pattern(list(FREQUENCIES))
_PROBLEM_CANON: dict[str, set[str]] = {}
for _group in PROBLEM_GROUPS:
    for _name in _group:
        _PROBLEM_CANON.setdefault(_name, set()).add(_group[0])
_PROBLEM = _phrase_pattern(list(_PROBLEM_CANON))
_VITAL = _phrase_pattern(list(VITAL_WORDS))
_LAB = _phrase_pattern(list(LAB_WORDS))


def _lab_before(toks: list[tuple[str, str]], start: int) -> str:
    """The laboratory result a number at ``start`` is the value of ("ldl was 130"), or ""."""
    before = " ".join(t for _, t in toks[max(0, start - _VITAL_REACH) : start])
    found = list(_LAB.finditer(before))
    return LAB_WORDS[found[-1].group(1)] if found else ""


@dataclass(frozen=True)
class Term:
    """One checkable claim of a statement; ``text`` is how the statement wrote it."""

    kind: Kind
    text: str
    values: frozenset[str] = frozenset()  # numbers: the strict readings
    unit: str = ""  # doses: canonical unit
    key: str = ""  # drug, frequency, problem, side+part: canonical name(s), "|"-joined


@dataclass
class _Num:
    start: int  # token index of the first word
    end: int  # token index after the last
    strict: set[str]
    generous: set[str]
    text: str


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, token) with kind n (digits), w (word), s (slash) or p (punctuation)."""
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text.lower()):
        kind = m.lastgroup or "w"
        out.append((kind, m.group(0)))
    return out


def _number_word_at(toks: list[tuple[str, str]], i: int) -> bool:
    return i < len(toks) and num.is_number_word(toks[i][1])


def _numbers(toks: list[tuple[str, str]]) -> list[_Num]:
    found: list[_Num] = []
    words = [t if kind == "w" else "" for kind, t in toks]  # for decimals_after
    i = 0
    while i < len(toks):
        kind, tok = toks[i]
        if kind == "n":
            value = num.digits_value(tok)
            found.append(_Num(i, i + 1, {value}, {value}, tok))
            i += 1
            continue
        decimals, end = num.decimals_after(words, i)
        if decimals:  # "point five"
            value = num.norm(float(f"0.{decimals}"))
            found.append(_Num(i, end, {value}, {value}, " ".join(t for _, t in toks[i:end])))
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
            found.append(_Num(i, j, strict, generous, " ".join(t for _, t in toks[i:j])))
            i = j
            continue
        i += 1
    return found


def _mg(unit: str, value: str) -> tuple[str, str]:
    """Mass doses compared in mg ("1 g" == "1000 mg"); other units as they are."""
    if unit in TO_MG:
        return "mg", num.norm(float(value) * TO_MG[unit])
    return unit, value


def _bp(a: _Num, b: _Num, *, strict: bool) -> set[str]:
    xs, ys = (a.strict, b.strict) if strict else (a.generous, b.generous)
    return {f"{x}/{y}" for x in xs for y in ys}


def _plausible_bp(a: _Num, b: _Num) -> bool:
    def fits(values: set[str], lo: float, hi: float) -> bool:
        return any(lo <= float(v) <= hi for v in values)

    return fits(a.strict, 60, 260) and fits(b.strict, 30, 160)


# A duration in days, so "two weeks" and "14 days" are the same (months and years roughly).
_DAYS: dict[str, float] = {
    "s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.4, "y": 365.0,
}  # fmt: skip
_SAME_DURATION = 0.1  # relative difference within which two durations are one


def in_days(value: str, unit: str) -> float:
    return float(value) * _DAYS[unit]


def same_duration(a: float, b: float) -> bool:
    return abs(a - b) <= _SAME_DURATION * max(a, b)


def _is_age(toks: list[tuple[str, str]], unit_at: int) -> bool:
    """ "45 years old", "45-year-old", "45 years of age": an age, not a duration."""
    after = [t for _, t in toks[unit_at + 1 : unit_at + 3]]
    return after[:1] == ["old"] or after == ["of", "age"]


def _recent_units(toks: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """ "last week", "the past month": about one unit of time (read only on the said side:
    "since last week" in a note is a date, not a length)."""
    return {
        ("1", unit)
        for i in range(1, len(toks))
        if toks[i - 1][1] in ("last", "past") and (unit := _unit_at(toks, i))
    }


def said_doses(text: str) -> set[tuple[str, str]]:
    """(unit, value) of every dose ``text`` may have said, read generously (as ``Support``)."""
    return {(unit, value) for value, kind, unit in measured(text, strict=False) if kind == "dose"}


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


@dataclass(frozen=True)
class _Quantity:
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


def _word(toks: list[tuple[str, str]], i: int) -> str:
    return toks[i][1] if 0 <= i < len(toks) else ""


def _per_unit(toks: list[tuple[str, str]], i: int) -> bool:
    """ "a week" in "three days a week", "per day" in "12 hours per day": a share of each
    period (how often), not a length of time."""
    return _word(toks, i) in ("a", "an", "per", "each", "every") and bool(_unit_at(toks, i + 1))


def _ranged(
    toks: list[tuple[str, str]], nums: list[_Num], n: _Num, end: int, unit: str
) -> _Quantity:
    """The quantity ``n`` starts, with the number before it when the two are a range: "2 to
    3 weeks", "two or three beers", "2-3 months" (the dash is dropped)."""
    strict, generous, start, covered = set(n.strict), set(n.generous), n.start, {n.start}
    for joiner in (1, 2):
        before = next((m for m in nums if m.end == n.start - joiner + 1), None)
        link = _word(toks, n.start - 1) if joiner == 2 else ""
        if before is not None and (joiner == 1 or link in ("to", "or")):
            strict |= before.strict
            generous |= before.generous
            start, covered = before.start, covered | {before.start}
            break
    return _Quantity(start, end, frozenset(strict), frozenset(generous), unit, frozenset(covered))


def _durations(toks: list[tuple[str, str]], nums: list[_Num]) -> list[_Quantity]:
    """Every duration of a text, in reading order: a number with a unit of time ("2 weeks",
    "two and a half months", "2 to 3 days", "x2 weeks") or words ("a week", "a couple of
    months", "a few days", "half a year", "a week and a half", "a day or two"). Ages ("45
    years old") are not durations."""
    found: list[_Quantity] = []
    by_start = {n.start: n for n in nums}
    for n in nums:
        unit = _unit_at(toks, n.end)
        if not unit or _is_age(toks, n.end) or _per_unit(toks, n.end + 1):
            continue
        found.append(_ranged(toks, nums, n, n.end + 1, unit))
    taken = {i for d in found for i in range(d.start, d.end)}
    for i in range(len(toks)):
        if i in taken:
            continue
        got = _worded_duration(toks, i, by_start)
        if got is not None and not taken & set(range(got.start, got.end)):
            found.append(got)
            taken |= set(range(got.start, got.end))
    return sorted(found, key=lambda d: d.start)


def _worded_duration(
    toks: list[tuple[str, str]], i: int, by_start: dict[int, _Num]
) -> _Quantity | None:
    """A duration in words starting at token ``i``, or None."""
    tok = _word(toks, i)
    article = tok in ("a", "an")
    at = i + 1 if article else i
    count = _word(toks, at)
    if count in _COUNT_WORDS:  # "a couple of weeks", "few days", "several months"
        j = at + 2 if _word(toks, at + 1) == "of" else at + 1
        unit = _unit_at(toks, j)
        if not unit or (count == "few" and not article):
            return None  # "few days" alone says "not many"
        strict, generous = _COUNT_WORDS[count]
        return _Quantity(i, j + 1, strict, generous, unit)
    if tok == "half" and _word(toks, i + 1) in ("a", "an"):  # "half a year", "half an hour"
        unit = _unit_at(toks, i + 2)
        half = frozenset({"0.5"})
        return _Quantity(i, i + 3, half, half, unit) if unit else None
    if not article:
        return None
    if _word(toks, i + 1) == "half":  # "a half hour"
        unit = _unit_at(toks, i + 2)
        half = frozenset({"0.5"})
        return _Quantity(i, i + 3, half, half, unit) if unit else None
    unit = _unit_at(toks, i + 1)
    if not unit or _is_age(toks, i + 1):
        return None
    after = _word(toks, i + 2)
    if _word(toks, i - 1) not in _ONE_UNIT_BEFORE and after not in _ONE_UNIT_AFTER:
        return None
    if [_word(toks, k) for k in range(i + 2, i + 5)] == ["and", "a", "half"]:
        one = frozenset({"1.5"})  # "a week and a half"
        return _Quantity(i, i + 5, one, one, unit)
    values, end = {"1"}, i + 2
    other = by_start.get(i + 3)
    if after == "or" and other is not None:  # "a day or two"
        values |= other.strict
        end = other.end
        return _Quantity(i, end, frozenset(values), frozenset(values | other.generous), unit,
                         frozenset({other.start}))  # fmt: skip
    return _Quantity(i, end, frozenset(values), frozenset(values), unit)


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
    noun = COUNT_NOUNS.get(_word(toks, i), "") if i < len(toks) and toks[i][0] == "w" else ""
    if noun == "pack" and _word(toks, i + 1) in ("year", "years"):
        return "pack-year", i + 2
    return noun, i + 1


def _amounts(toks: list[tuple[str, str]], nums: list[_Num], *, said: bool) -> list[_Quantity]:
    """Counted amounts: "two packs", "1 ppd", "20 pack-years", "a couple of beers", "half a
    pack". ``said`` (the visit's side) also reads an article as one ("a pack a day"); a
    note's "has a drink now and then" claims no amount."""
    found: list[_Quantity] = []
    ends = {n.end: n for n in nums}
    for n in nums:
        noun, end = _noun_at(toks, n.end)
        if not noun:
            continue
        over = ends.get(n.start - 1) if _word(toks, n.start - 1) == "/" else None
        if over is not None:  # "1/2 ppd": a fraction
            half = {num.norm(float(a) / float(b)) for a in over.strict for b in n.strict
                    if float(b)}  # fmt: skip
            found.append(_Quantity(over.start, end, frozenset(half), frozenset(half), noun,
                                   frozenset({over.start, n.start})))  # fmt: skip
            continue
        found.append(_ranged(toks, nums, n, end, noun))
    taken = {i for q in found for i in range(q.start, q.end)}
    for i in range(len(toks)):
        if i in taken:
            continue
        tok = _word(toks, i)
        article = tok in ("a", "an")
        at = i + 1 if article else i
        values: tuple[frozenset[str], frozenset[str]] | None = None
        if _word(toks, at) in _COUNT_WORDS and (article or _word(toks, at) != "few"):
            values = _COUNT_WORDS[_word(toks, at)]
            at += 2 if _word(toks, at + 1) == "of" else 1
        elif tok == "half" and _word(toks, i + 1) in ("a", "an"):
            values, at = (frozenset({"0.5"}),) * 2, i + 2
        elif article and (said or _word(toks, at) in ("pack", "ppd")):
            values = (frozenset({"1"}),) * 2
        if values is None:
            continue
        noun, end = _noun_at(toks, at)
        if noun:
            if [_word(toks, k) for k in range(end, end + 3)] == ["and", "a", "half"]:
                values, end = (frozenset({"1.5"}),) * 2, end + 3  # "a pack and a half"
            found.append(_Quantity(i, end, values[0], values[1], noun))
            taken |= set(range(i, end))
    return sorted(found, key=lambda q: q.start)


def measured(text: str, *, strict: bool) -> set[tuple[str, str, str]]:
    """(value, kind, unit) of each number said with a unit: kind ``dose`` (mass in mg, as
    the dose terms compare) or ``time``; ``strict`` reads spoken numbers as a whole only."""
    toks = _tokens(text.lower())
    out: set[tuple[str, str, str]] = set()
    nums = _numbers(toks)
    for n in nums:
        nxt = toks[n.end][1] if n.end < len(toks) else ""
        values = n.strict if strict else n.generous
        if nxt in DOSE_UNITS:
            for v in values:
                unit, value = _mg(DOSE_UNITS[nxt], v)
                out.add((value, "dose", unit))
    for d in _durations(toks, nums):
        out |= {(v, "time", d.unit) for v in (d.strict if strict else d.generous)}
    return out


def _drug_keys(word: str) -> set[str]:
    return {word, BRAND_GENERIC.get(word, word)}


@dataclass
class Support:
    """What a text (linked turns, or the whole visit) said, read generously."""

    numbers: set[str] = field(default_factory=set)
    doses: set[tuple[str, str]] = field(default_factory=set)  # (unit, value)
    bps: set[str] = field(default_factory=set)
    drugs: set[str] = field(default_factory=set)
    words: list[str] = field(default_factory=list)
    problems: set[str] = field(default_factory=set)
    frequencies: set[str] = field(default_factory=set)
    sides: set[tuple[str, str]] = field(default_factory=set)
    durations: set[tuple[str, str]] = field(default_factory=set)  # (value, time unit)
    labs: set[tuple[str, str]] = field(default_factory=set)  # (result, value)
    amounts: set[tuple[str, str]] = field(default_factory=set)  # (value, counted thing)
    bare: set[str] = field(default_factory=set)  # numbers said without a unit of time

    @classmethod
    def of(cls, text: str) -> Support:
        low = text.lower()
        toks = _tokens(low)
        nums = _numbers(toks)
        s = cls(numbers=num.said_numbers(low))
        for n in nums:
            s.numbers |= n.generous
        by_start = {n.start: n for n in nums}
        durations = _durations(toks, nums)
        in_duration = {i for d in durations for i in d.numbers}
        for d in durations:
            s.durations |= {(v, d.unit) for v in d.generous}
        s.durations |= _recent_units(toks)
        for q in _amounts(toks, nums, said=True):
            s.amounts |= {(v, q.unit) for v in q.generous}
        # Pack-years are packs a day times years smoked: "a pack a day for twenty years".
        years = {float(v) * in_days("1", u) / 365 for v, u in s.durations if u == "y"}
        # Twenty cigarettes to a pack: "ten cigarettes a day" is half a pack.
        s.amounts |= {(num.norm(float(v) / 20), "pack") for v, u in set(s.amounts)
                      if u == "cigarette"}  # fmt: skip
        s.amounts |= {(num.norm(float(v) * 20), "cigarette") for v, u in set(s.amounts)
                      if u == "pack"}  # fmt: skip
        packs = {float(v) for v, u in s.amounts if u == "pack"}
        s.amounts |= {(num.norm(p * y), "pack-year") for p in packs for y in years}
        for n in nums:
            nxt = toks[n.end][1] if n.end < len(toks) else ""
            if nxt in DOSE_UNITS:
                s.doses |= {_mg(DOSE_UNITS[nxt], v) for v in n.generous}
            if nxt in ("/", "over") and n.end + 1 in by_start:
                s.bps |= _bp(n, by_start[n.end + 1], strict=False)
            if n.start not in in_duration:
                s.bare |= n.generous
            if lab := _lab_before(toks, n.start):
                s.labs |= {(lab, v) for v in n.generous}
        s.words = [t for k, t in toks if k == "w"]
        for w in s.words:
            if w in DRUG_NAMES:
                s.drugs |= _drug_keys(w)
        s.drugs |= {BRAND_GENERIC[w] for w in s.words if w in BRAND_GENERIC}
        for m in _PROBLEM.finditer(low):
            s.problems |= _PROBLEM_CANON[m.group(1)]
        s.frequencies = {FREQUENCIES[m.group(1)] for m in _FREQ.finditer(low)}
        s.sides = {(m.side, m.part) for m in side_mentions(low)}
        return s

    def sounds_like(self, drug: str) -> bool:
        """A drug not said is a correction when words said ("a tour of a statin") sound
        or are spelled like it (speech recognition mishears drug names)."""
        return soundalike.sounds_like(drug, self.words, DRUG_NAMES)


def claims(text: str) -> list[Term]:
    """The checkable terms of a statement, in reading order, read strictly."""
    low = text.lower()
    toks = _tokens(low)
    nums = _numbers(toks)
    by_start = {n.start: n for n in nums}
    durations = _durations(toks, nums)
    dur_at = {min(d.numbers): d for d in durations if d.numbers}
    amounts = _amounts(toks, nums, said=False)
    amount_at = {min(q.numbers): q for q in amounts if q.numbers}
    used: set[int] = set()  # start tokens of numbers already part of a dose or vital
    terms: list[Term] = [
        Term("duration", d.text(toks), d.strict, unit=d.unit) for d in durations if not d.numbers
    ] + [Term("amount", q.text(toks), q.strict, unit=q.unit) for q in amounts if not q.numbers]
    for n in nums:
        if n.start in used:
            continue
        nxt = toks[n.end][1] if n.end < len(toks) else ""
        if nxt in ("/", "over") and n.end + 1 in by_start:
            other = by_start[n.end + 1]
            if _plausible_bp(n, other):
                used |= {n.start, other.start}
                terms.append(
                    Term("vital", f"{n.text}/{other.text}", frozenset(_bp(n, other, strict=True)))
                )
                continue
        if nxt in DOSE_UNITS:
            used.add(n.start)
            unit = DOSE_UNITS[nxt]
            terms.append(Term("dose", f"{n.text} {nxt}", frozenset(n.strict), unit=unit))
            continue
        prev = toks[n.start - 1][1] if n.start > 0 else ""
        if nxt == "times" or (prev == "every" and nxt in ("hours", "hour")):
            used.add(n.start)  # part of a frequency ("three times a day"), checked as one
            continue
        if prev in _NAME_NUMBER:
            used.add(n.start)  # "type 2 diabetes", "covid-19": part of a name, not a value
            continue
        if n.start in dur_at:  # "for 2 weeks": the number with its unit, compared in days
            d = dur_at[n.start]
            used |= d.numbers
            terms.append(Term("duration", d.text(toks), d.strict, unit=d.unit))
            continue
        if n.start in amount_at:  # "2 packs a day", "20 pack-years", "1/2 ppd"
            q = amount_at[n.start]
            used |= q.numbers
            terms.append(Term("amount", q.text(toks), q.strict, unit=q.unit))
            continue
        before = " ".join(t for _, t in toks[max(0, n.start - _VITAL_REACH) : n.start])
        vital = _VITAL.search(before)
        used.add(n.start)
        lab = _lab_before(toks, n.start)
        if vital:
            name = VITAL_WORDS[vital.group(1)]
            terms.append(Term("vital", f"{name} {n.text}", frozenset(n.strict), key=name))
        elif lab:
            terms.append(Term("lab", f"{lab} {n.text}", frozenset(n.strict), key=lab))
        else:
            terms.append(Term("number", n.text, frozenset(n.strict)))
    words = [t for k, t in toks if k == "w"]
    for w in dict.fromkeys(w for w in words if w in DRUG_NAMES):
        terms.append(Term("drug", w, key="|".join(sorted(_drug_keys(w)))))
    for m in _FREQ.finditer(low):
        key = FREQUENCIES[m.group(1)]
        if key not in _UNCHECKED_FREQUENCIES:
            terms.append(Term("frequency", m.group(1), key=key))
    for sm in side_mentions(low):
        terms.append(Term("laterality", sm.shown, key=f"{sm.side} {sm.part}"))
    for m in _PROBLEM.finditer(low):
        terms.append(Term("problem", m.group(1), key="|".join(sorted(_PROBLEM_CANON[m.group(1)]))))
    return terms
