"""Clinical terms of a text: doses, vital signs, numbers, frequencies, sides, drugs, problems.

``claims(text)`` reads a note statement strictly (what exactly does it assert?);
``Support.of(text)`` reads what was said generously (every value the words may mean), so
a restatement in other words ("five hundred milligrams" -> "500 mg", "one twenty over
eighty" -> "120/80", "twice a day" -> "BID", "Tylenol" -> "acetaminophen") is supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from shared.evidence import numbers as num
from shared.evidence import quantities as qty
from shared.evidence import soundalike
from shared.evidence.lexicon import (
    BRAND_GENERIC,
    DOSE_UNITS,
    DRUG_NAMES,
    FREQUENCIES,
    LAB_WORDS,
    MEASURE_NAMES,
    OPPOSITES,
    PROBLEM_GROUPS,
    PROCEDURES,
    SUBTYPES,
    TO_MG,
    VITAL_WORDS,
)
from shared.evidence.quantities import in_days
from shared.evidence.sides import side_mentions
from shared.evidence.tokens import Num, number_spans, tokens, word

Kind = Literal[
    "dose", "drug", "number", "unit", "frequency", "laterality", "problem", "vital", "duration",
    "lab", "amount", "age", "procedure", "score",
    # Meaning checks (shared.evidence.meaning): the words match, what they say does not.
    "negation", "experiencer", "temporality", "action", "allergy",
]  # fmt: skip

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
_SUBTYPE = _phrase_pattern(list(SUBTYPES))
_PROCEDURE_OF = {form: name for name, forms in PROCEDURES.items() for form in forms}
_PROCEDURE = _phrase_pattern(list(_PROCEDURE_OF))
_OPPOSITE_OF = {form: name for name, (_, forms) in OPPOSITES.items() for form in forms}
_OPPOSITE = _phrase_pattern(list(_OPPOSITE_OF))
# "your potassium is low", "my sugars have been running high": the same as "low potassium".
_LEVEL_SAID = re.compile(
    r"\b(potassium|sodium|calcium|blood sugars?|sugars?|glucose|blood pressure|pressure|"
    r"thyroid|heart rate|pulse)\s+(?:(?:is|was|are|were|has|have|been|running|came|back|"
    r"looks?|looked|seems?|still|a little|a bit|kind of|too|very|really|pretty)\s+){1,4}"
    r"(low|high|up|elevated|down)\b"
)
_LEVEL_CONCEPT = {
    "potassium": ("hyperkalemia", "hypokalemia"), "sodium": ("hypernatremia", "hyponatremia"),
    "calcium": ("hypercalcemia", "hypocalcemia"), "sugar": ("hyperglycemia", "hypoglycemia"),
    "glucose": ("hyperglycemia", "hypoglycemia"),
    "blood pressure": ("hypertension", "hypotension"),
    "pressure": ("hypertension", "hypotension"),
    "thyroid": ("hyperthyroidism", "hypothyroidism"),
    "heart rate": ("tachycardia", "bradycardia"), "pulse": ("tachycardia", "bradycardia"),
}  # fmt: skip


def _levels_said(low: str) -> set[str]:
    """Opposite findings said as a level: "your potassium is low" -> hypokalemia. A low
    blood pressure is not read as hypotension: a treated hypertensive says it too."""
    out: set[str] = set()
    for m in _LEVEL_SAID.finditer(low):
        name = "sugar" if "sugar" in m.group(1) else m.group(1)
        high, low_ = _LEVEL_CONCEPT[name]
        if m.group(2) in ("high", "up", "elevated"):
            out.add(high)
        elif high != "hypertension":
            out.add(low_)
    return out


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
    unit: str = ""  # doses: canonical unit; a problem's kind ("type 1", "breast")
    key: str = ""  # drug, frequency, problem, side+part: canonical name(s), "|"-joined


def _mg(unit: str, value: str) -> tuple[str, str]:
    """Mass doses compared in mg ("1 g" == "1000 mg"); other units as they are."""
    if unit in TO_MG:
        return "mg", num.norm(float(value) * TO_MG[unit])
    return unit, value


def _bp(a: Num, b: Num, *, strict: bool) -> set[str]:
    xs, ys = (a.strict, b.strict) if strict else (a.generous, b.generous)
    return {f"{x}/{y}" for x in xs for y in ys}


def _plausible_bp(a: Num, b: Num) -> bool:
    def fits(values: set[str], lo: float, hi: float) -> bool:
        return any(lo <= float(v) <= hi for v in values)

    return fits(a.strict, 60, 260) and fits(b.strict, 30, 160)


def said_doses(text: str) -> set[tuple[str, str]]:
    """(unit, value) of every dose ``text`` may have said, read generously (as ``Support``)."""
    return {(unit, value) for value, kind, unit in measured(text, strict=False) if kind == "dose"}


def measured(text: str, *, strict: bool) -> set[tuple[str, str, str]]:
    """(value, kind, unit) of each number said with a unit: kind ``dose`` (mass in mg, as
    the dose terms compare) or ``time``; ``strict`` reads spoken numbers as a whole only."""
    toks = tokens(text.lower())
    out: set[tuple[str, str, str]] = set()
    nums = number_spans(toks)
    for n in nums:
        nxt = toks[n.end][1] if n.end < len(toks) else ""
        values = n.strict if strict else n.generous
        if nxt in DOSE_UNITS:
            for v in values:
                unit, value = _mg(DOSE_UNITS[nxt], v)
                out.add((value, "dose", unit))
    for d in qty.durations(toks, nums):
        out |= {(v, "time", d.unit) for v in (d.strict if strict else d.generous)}
    return out


def _drug_keys(word: str) -> set[str]:
    return {word, BRAND_GENERIC.get(word, word)}


_TO_KG = {"pounds": 0.45359237, "pound": 0.45359237, "lbs": 0.45359237, "lb": 0.45359237}
_TO_LB = {"kilos": 2.20462262, "kilograms": 2.20462262, "kg": 2.20462262, "kgs": 2.20462262}
_FEET = frozenset({"foot", "feet", "ft"})


PAIN_SCORE = "pain score"
# A turn that gives a score out of ten: its numbers up to ten may be that score.
_SCORE_CUE = re.compile(r"\b(?:scale|out of (?:ten|10)|pain|hurts?|rate it)\b|/\s?10\b")


def _score_of(toks: list[tuple[str, str]], n: Num, by_start: dict[int, Num]) -> Num | None:
    """The "10" of "8/10" or "8 out of 10" after ``n`` (a score out of ten), or None."""
    at = (
        n.end + 1
        if word(toks, n.end) == "/"
        else (n.end + 2 if [word(toks, n.end), word(toks, n.end + 1)] == ["out", "of"] else -1)
    )
    ten = by_start.get(at)
    if ten is None or ten.strict != {"10"} or not all(float(v) <= 10 for v in n.strict):
        return None
    return ten


def _is_temperature(toks: list[tuple[str, str]], n: Num) -> bool:
    before = " ".join(t for _, t in toks[max(0, n.start - _VITAL_REACH) : n.start])
    vital = _VITAL.search(before)
    return vital is not None and VITAL_WORDS[vital.group(1)] == "temperature"


def _converted(toks: list[tuple[str, str]], nums: list[Num]) -> set[str]:
    """A measurement said in one unit, in the other a note may write: pounds <-> kg,
    Fahrenheit <-> Celsius (a temperature reading), feet and inches -> inches and cm."""
    out: set[str] = set()
    by_start = {n.start: n for n in nums}
    for n in nums:
        unit = word(toks, n.end)
        factor = _TO_KG.get(unit) or _TO_LB.get(unit)
        values = [float(v) for v in n.strict]
        if factor:
            out |= {num.norm(round(v * factor, d)) for v in values for d in (0, 1)}
        if any(35 <= v <= 42 or 95 <= v <= 108 for v in values) and _is_temperature(toks, n):
            for v in values:
                if 95 <= v <= 108:
                    out.add(num.norm(round((v - 32) * 5 / 9, 1)))
                elif 35 <= v <= 42:
                    out.add(num.norm(round(v * 9 / 5 + 32, 1)))
        if unit in _FEET:  # "five foot eight", "5 feet 8 inches"
            inches_n = by_start.get(n.end + 1)
            extra = [float(v) for v in inches_n.strict] if inches_n else [0.0]
            for f in values:
                for i in extra:
                    total = f * 12 + i
                    out |= {num.norm(total), num.norm(round(total * 2.54))}
    return out


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
    ages: set[str] = field(default_factory=set)  # someone's age: "I'm 54", "a 54-year-old"
    subtypes: set[tuple[str, str]] = field(default_factory=set)  # ("cancer", "breast")
    opposites: set[str] = field(default_factory=set)  # "hypothyroidism" (of OPPOSITES)
    procedures: set[str] = field(default_factory=set)  # "cholecystectomy" (of PROCEDURES)
    bare: set[str] = field(default_factory=set)  # numbers said without a unit of time

    @classmethod
    def of(cls, text: str) -> Support:
        low = text.lower()
        toks = tokens(low)
        nums = number_spans(toks)
        s = cls(numbers=num.said_numbers(low))
        for n in nums:
            s.numbers |= n.generous
        s.numbers |= _converted(toks, nums)
        if _SCORE_CUE.search(low):  # "on a scale of one to ten it's about a six"
            s.labs |= {(PAIN_SCORE, v) for n in nums for v in n.generous if float(v) <= 10}
        by_start = {n.start: n for n in nums}
        durations = qty.durations(toks, nums)
        in_duration = {i for d in durations for i in d.numbers}
        for d in durations:
            s.durations |= {(v, d.unit) for v in d.generous}
        s.durations |= qty.recent_units(toks)
        for q in qty.amounts(toks, nums, said=True):
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
            if qty.age_of(toks, n, said=True):
                s.ages |= n.generous
        s.words = [t for k, t in toks if k == "w"]
        for w in s.words:
            if w in DRUG_NAMES:
                s.drugs |= _drug_keys(w)
        s.drugs |= {BRAND_GENERIC[w] for w in s.words if w in BRAND_GENERIC}
        for m in _PROBLEM.finditer(low):
            s.problems |= _PROBLEM_CANON[m.group(1)]
        s.frequencies = {FREQUENCIES[m.group(1)] for m in _FREQ.finditer(low)}
        s.sides = {(m.side, m.part) for m in side_mentions(low)}
        s.subtypes = {SUBTYPES[m.group(1)] for m in _SUBTYPE.finditer(low)}
        s.opposites = {_OPPOSITE_OF[m.group(1)] for m in _OPPOSITE.finditer(low)}
        s.opposites |= _levels_said(low)
        s.procedures = {_PROCEDURE_OF[m.group(1)] for m in _PROCEDURE.finditer(low)}
        return s

    def sounds_like(self, drug: str) -> bool:
        """A drug not said is a correction when words said ("a tour of a statin") sound
        or are spelled like it (speech recognition mishears drug names)."""
        return soundalike.sounds_like(drug, self.words, DRUG_NAMES)


def claims(text: str) -> list[Term]:
    """The checkable terms of a statement, in reading order, read strictly."""
    low = text.lower()
    toks = tokens(low)
    nums = number_spans(toks)
    by_start = {n.start: n for n in nums}
    durations = qty.durations(toks, nums)
    dur_at = {min(d.numbers): d for d in durations if d.numbers}
    amounts = qty.amounts(toks, nums, said=False)
    amount_at = {min(q.numbers): q for q in amounts if q.numbers}
    used: set[int] = set()  # start tokens of numbers already part of a dose or vital
    terms: list[Term] = [
        Term("duration", d.text(toks), d.strict, unit=d.unit) for d in durations if not d.numbers
    ] + [Term("amount", q.text(toks), q.strict, unit=q.unit) for q in amounts if not q.numbers]
    for n in nums:
        if n.start in used:
            continue
        nxt = toks[n.end][1] if n.end < len(toks) else ""
        score_of = _score_of(toks, n, by_start)
        if score_of is not None:  # "pain 8/10", "8 out of 10": a score, checked as one
            used |= {n.start, score_of.start}
            terms.append(Term("score", f"{n.text}/10", frozenset(n.strict), key=PAIN_SCORE))
            continue
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
        if nxt in ("times", "x") or (prev == "every" and nxt in ("hours", "hour")):
            used.add(n.start)  # part of a frequency ("three times a day", "2x/week")
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
        if qty.age_of(toks, n, said=False):  # "54-year-old male"
            used.add(n.start)
            terms.append(Term("age", n.text, frozenset(n.strict)))
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
        if m.group(1) not in MEASURE_NAMES:
            key = "|".join(sorted(_PROBLEM_CANON[m.group(1)]))
            terms.append(Term("problem", m.group(1), key=key))
    for m in _PROCEDURE.finditer(low):  # "status post appendectomy"
        terms.append(Term("procedure", m.group(1), key=_PROCEDURE_OF[m.group(1)]))
    for m in _OPPOSITE.finditer(low):  # "hypothyroidism": not its opposite
        terms.append(Term("problem", m.group(1), key=_OPPOSITE_OF[m.group(1)], unit="opposite"))
    for m in _SUBTYPE.finditer(low):  # "type 1 diabetes", "breast cancer": which kind
        family, kind = SUBTYPES[m.group(1)]
        terms.append(Term("problem", m.group(1), key=family, unit=kind))
    return terms
