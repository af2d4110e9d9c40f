"""How often a drug is taken, as administrations per day, and which drug or dose it is for.

"twice daily", "BID", "b.i.d.", "every 12 hours" and "q12h" are all 2 a day; "every 4 to 6
hours" is 4 to 6 a day; "every other day" 0.5; "once a week" 1/7. A frequency belongs to
the nearest drug before it in its sentence (else the first after), and to the doses said
between the previous frequency and it. A sentence that names no drug ("Twice a day.",
"I take it before bed") continues the last drug and dose of the turn or of the turn
before, so an answer to "how often do you take the metformin?" is read as metformin's.
Rules over words; what they cannot read is not checked (the term checks still see it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from shared.evidence.lexicon import BRAND_GENERIC, DRUG_NAMES
from shared.evidence.terms import _mg, claims, said_doses

_NUM_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty four": 24, "twenty-four": 24,
    "thirty six": 36, "forty eight": 48, "seventy two": 72, "once": 1, "twice": 2,
    "thrice": 3,
}  # fmt: skip
_N = r"(\d+(?:\.\d+)?|" + "|".join(sorted(_NUM_WORDS, key=lambda w: -len(w))) + ")"
_PER = r"(?:a|an|per|each|every|/)"
_DAYS = {"day": 1.0, "daily": 1.0, "week": 7.0, "weekly": 7.0, "month": 30.0, "monthly": 30.0}
# (pattern, per-day reading); earlier patterns win where two overlap ("twice a day" is
# not also "a day").
_RATE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bevery (?:other|second) day\b|\bqod\b"), "0.5"),
    (re.compile(r"\bevery (?:other|second) week\b"), "1/14"),  # not "biweekly": ambiguous
    (re.compile(r"\bevery (?:other|second) month\b"), "1/60"),
    (re.compile(rf"\b(?:every|q)\s*{_N}(?:\s*(?:-|to|or)\s*{_N})?\s*(?:hours?|hrs?|h)\b"), "hours"),
    (re.compile(rf"\bevery {_N}\s*days?\b"), "days"),
    (re.compile(rf"\bevery {_N}\s*weeks?\b"), "weeks"),
    (re.compile(rf"\bevery {_N}\s*months?\b"), "months"),
    (re.compile(rf"\b{_N}(?:\s*(?:times|x))?\s*(?:{_PER}\s*)?(day|daily|week|weekly|month|monthly)\b"),
     "times"),
    (re.compile(r"\b(?:once|one time) (?:a|per|every) (day|week|month)\b"), "times1"),
    (re.compile(r"\bbid\b"), "2"), (re.compile(r"\btid\b"), "3"), (re.compile(r"\bqid\b"), "4"),
    (re.compile(r"\b(?:qd|qday|qam|qpm|qhs|daily|nightly|every day|each day|a day|per day|"
                r"every (?:morning|evening|night)|each (?:morning|evening|night)|"
                r"in the (?:morning|evening)|at (?:night|nighttime|bedtime)|before bed)\b"), "1"),
    (re.compile(r"\b(?:weekly|a week|per week|every week)\b"), "1/7"),
    (re.compile(r"\b(?:monthly|a month|per month|every month)\b"), "1/30"),
)  # fmt: skip
_PRN = re.compile(
    r"\b(?:prn|as needed|when needed|if needed|as necessary|"
    r"(?:if|when|whenever) (?:you|she|he|i|they)(?:'re| are| is| am|'m)? ?"
    r"(?:need|have|feel|feeling|having|hurt|hurting|get)\w*)\b"
)
_PRN_REACH = 30  # characters between a rate and its "as needed"
_DOTTED = re.compile(r"\b(?:[a-z0-9]\.){2,}")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_WORD = re.compile(r"[a-z]+")
_CARRY_TURNS = 2  # a drug named this many turns back is still "it"


@dataclass(frozen=True)
class Frequency:
    """A frequency as written; ``per_day`` is a (low, high) range, None when the text only
    says "as needed"."""

    text: str
    per_day: tuple[float, float] | None
    prn: bool

    def said(self) -> str:
        return self.text


@dataclass(frozen=True)
class Dosing:
    frequency: Frequency
    drug: str | None  # generic name
    doses: frozenset[tuple[str, str]]  # (unit, value), mass units in mg
    shown: str  # "amoxicillin twice a day"


def normalise(text: str) -> str:
    """Lower case, dotted abbreviations closed up ("b.i.d." -> "bid", "q.6.h." -> "q6h")."""
    return _DOTTED.sub(lambda m: m.group(0).replace(".", "") + " ", text.lower())


def _value(token: str) -> float:
    return float(_NUM_WORDS.get(token, 0) or token)


def _rate(rule: str, m: re.Match[str]) -> tuple[float, float] | None:
    if rule == "hours":
        lo = _value(m.group(1))
        hi = _value(m.group(2)) if m.group(2) else lo
        return (24 / max(lo, hi), 24 / min(lo, hi)) if lo and hi else None
    if rule in ("days", "weeks", "months"):
        n = _value(m.group(1)) * {"days": 1, "weeks": 7, "months": 30}[rule]
        return (1 / n, 1 / n) if n else None
    if rule == "times":
        n = _value(m.group(1)) / _DAYS[m.group(2)]
        return (n, n)
    if rule == "times1":
        n = 1 / _DAYS[m.group(1)]
        return (n, n)
    top, _, bottom = rule.partition("/")
    n = float(top) / float(bottom or 1)
    return (n, n)


def frequencies(sentence: str) -> list[tuple[int, int, Frequency]]:
    """(start, end, frequency) of each frequency of a normalised sentence, in order."""
    taken: list[tuple[int, int, tuple[float, float]]] = []
    for pattern, rule in _RATE_RULES:
        for m in pattern.finditer(sentence):
            if any(m.start() < e and s < m.end() for s, e, _ in taken):
                continue
            rate = _rate(rule, m)
            if rate is not None:
                taken.append((m.start(), m.end(), rate))
    taken.sort()
    prns = [(m.start(), m.end()) for m in _PRN.finditer(sentence)]
    # Each "as needed" joins the rate just before it (else just after), with no other drug
    # between: "lisinopril once a day and albuterol as needed" are two schedules.
    joined: dict[int, tuple[int, int]] = {}
    alone: list[tuple[int, int]] = []
    for ps, pe in prns:
        left = [
            i
            for i, (_, e, _) in enumerate(taken)
            if e <= ps and ps - e <= _PRN_REACH and not _drugs(sentence[e:ps])
        ]
        right = [
            i
            for i, (s, _, _) in enumerate(taken)
            if s >= pe and s - pe <= _PRN_REACH and not _drugs(sentence[pe:s])
        ]
        pick = left[-1] if left else right[0] if right else None
        if pick is None or pick in joined:
            alone.append((ps, pe))
        else:
            joined[pick] = (ps, pe)
    out: list[tuple[int, int, Frequency]] = []
    for i, (start, end, rate) in enumerate(taken):
        text = sentence[start:end].strip()
        if i in joined:
            ps, pe = joined[i]
            prn = sentence[ps:pe].strip()
            text = f"{text} {prn}" if ps >= end else f"{prn} {text}"
        out.append((start, end, Frequency(text, rate, i in joined)))
    for ps, pe in alone:
        out.append((ps, pe, Frequency(sentence[ps:pe].strip(), None, True)))
    return sorted(out, key=lambda x: x[0])


def _drugs(sentence: str) -> list[tuple[int, str]]:
    return [
        (m.start(), BRAND_GENERIC.get(m.group(0), m.group(0)))
        for m in _WORD.finditer(sentence)
        if m.group(0) in DRUG_NAMES
    ]


def _doses(segment: str, *, strict: bool) -> frozenset[tuple[str, str]]:
    if strict:
        return frozenset(
            _mg(t.unit, v) for t in claims(segment) if t.kind == "dose" for v in t.values
        )
    return frozenset(said_doses(segment))


@dataclass
class DosingReader:
    """Reads turns in order; carries the last drug and dose for sentences naming none."""

    strict: bool = False  # a note statement: doses read strictly
    _drug: str | None = None
    _doses: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    _age: int = 0  # turns since the carried drug was named

    def read(self, text: str) -> Iterator[Dosing]:
        self._age += 1
        if self._age > _CARRY_TURNS:
            self._drug, self._doses = None, frozenset()
        for sentence in _SENTENCE.findall(normalise(text)):
            yield from self._sentence(sentence)

    def _sentence(self, sentence: str) -> Iterator[Dosing]:
        read = list(self._dosings(sentence))
        # "in the morning and at night" says twice a day (not once, twice over): a note's
        # "daily" for it halves the dose, its "in the morning and at night" for "twice a
        # day" is the same.
        totals = _day_totals(read)
        parts = {id(d) for total in totals for d in read if _part_of(d, total)}
        yield from (d for d in read if id(d) not in parts)
        yield from totals

    def _dosings(self, sentence: str) -> Iterator[Dosing]:
        drugs = _drugs(sentence)
        found = frequencies(sentence)
        previous_end = 0
        for start, end, freq in found:
            before = [d for at, d in drugs if at < start]
            after = [d for at, d in drugs if at >= end]
            drug = before[-1] if before else after[0] if after else None
            doses = _doses(sentence[previous_end:start], strict=self.strict)
            if drug is None and not doses:
                drug, doses = self._drug, self._doses
            elif drug is None and not drugs:
                drug = self._drug
            previous_end = end
            shown = f"{drug} {freq.text}" if drug else freq.text
            yield Dosing(freq, drug, doses, shown)
            if drug is not None:
                self._remember(drug, doses)
        if drugs and not found:  # "Start the amlodipine, five milligrams." / "Once a day."
            self._remember(drugs[-1][1], _doses(sentence, strict=self.strict))

    def _remember(self, drug: str, doses: frozenset[tuple[str, str]]) -> None:
        self._drug, self._doses, self._age = drug, doses, 0


# Times of day: two of them for one drug in one sentence are that many doses a day.
_TIME_OF_DAY = re.compile(
    r"\b(?:morning|evening|night|nighttime|bedtime|bed|noon|lunch|breakfast|dinner|supper|"
    r"afternoon|qam|qpm|qhs)\b"
)


def _is_time_of_day(d: Dosing) -> bool:
    return (
        not d.frequency.prn
        and d.frequency.per_day == (1.0, 1.0)
        and bool(_TIME_OF_DAY.search(d.frequency.text))
    )


def _part_of(d: Dosing, total: Dosing) -> bool:
    return _is_time_of_day(d) and d.drug == total.drug and d.frequency.text in total.shown


def _day_totals(read: list[Dosing]) -> list[Dosing]:
    """ "metformin in the morning and at night": one more dosing, twice a day, for each
    drug given two or more times of day in the sentence."""
    by_drug: dict[str | None, list[Dosing]] = {}
    for d in read:
        if _is_time_of_day(d):
            by_drug.setdefault(d.drug, []).append(d)
    out: list[Dosing] = []
    for drug, parts in by_drug.items():
        if len(parts) < 2:
            continue
        text = " and ".join(d.frequency.text for d in parts)
        n = float(len(parts))
        doses = frozenset().union(*(d.doses for d in parts))
        shown = f"{drug} {text}" if drug else text
        out.append(Dosing(Frequency(text, (n, n), False), drug, doses, shown))
    return out


def statement_dosings(text: str) -> list[Dosing]:
    return list(DosingReader(strict=True).read(text))


Match = str  # "same" | "prn" | "rate"


def compare(note: Frequency, said: Frequency) -> Match:
    """ "same"; "prn" (the note schedules what was said only as needed, "every 4 hours"
    for "every 4 hours if you need it"); "rate" (another number of doses a day)."""
    if note.per_day is not None and said.per_day is not None:
        (a, b), (c, d) = note.per_day, said.per_day
        if a > d * 1.01 or c > b * 1.01:
            return "rate"
        return "prn" if said.prn and not note.prn else "same"
    if note.per_day is not None and not note.prn and said.per_day is None:
        return "prn"
    return "same"
