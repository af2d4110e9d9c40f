"""The unsupported-claim check: is each term of a statement supported by what was said?

A term is checked against the turns the statement is linked to, then against the whole
visit. Supported by the linked turns: fine. Contradicted by them (the same unit with
another dose, the same body part on the other side): high, whatever else was said.
Said elsewhere in the visit only: low (the link may be off). Said nowhere: severity by
kind (a dose, drug, vital sign or side nobody said is high). Messages name the rule,
never the patient's words (flags are stored and shown, not logged).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from shared.evidence.lexicon import NOT_CONTRADICTED_BY_OPPOSITE, OPPOSITES
from shared.evidence.quantities import in_days, same_duration
from shared.evidence.terms import Kind, Support, Term, _mg, claims

Severity = Literal["high", "medium", "low"]

ABSENT_SEVERITY: dict[Kind, Severity] = {
    "dose": "high", "drug": "high", "vital": "high", "laterality": "high",
    "number": "medium", "frequency": "medium", "problem": "medium", "unit": "low",
    "duration": "medium", "lab": "medium", "amount": "medium", "age": "medium",
    "procedure": "medium", "score": "medium",
}  # fmt: skip
SEVERITY_RANK: dict[Severity, int] = {"high": 3, "medium": 2, "low": 1}

# Messages start with what the term is ("dose not said in ..."): shown to clinicians.
NOUN: dict[Kind, str] = {
    "dose": "dose", "drug": "drug", "vital": "vital sign", "laterality": "side",
    "number": "number", "frequency": "frequency", "problem": "problem", "unit": "unit",
    "duration": "duration", "lab": "lab result", "amount": "amount", "age": "age",
    "procedure": "procedure", "score": "pain score",
    "negation": "negation", "experiencer": "experiencer", "temporality": "temporality",
    "action": "medication action", "allergy": "allergy",
}  # fmt: skip
# Kinds whose rule is the whole message ("said: no chest pain").
_RULE_ONLY = frozenset({"unit", "negation", "experiencer", "temporality", "action", "allergy"})
NOT_SAID = "not said in the linked turns or the transcript"
NOT_SAID_ANYWHERE = "not said in the transcript"
CONTRADICTS = "contradicts the linked turns"
ELSEWHERE = "said in the visit, but not in the linked turns"
UNIT_NOT_SAID = "the number was said, but not with this unit"
OTHER_TIME_UNIT = "said in the visit with another unit of time"
OTHER_LAB_VALUE = "said in the visit with another value"
OTHER_AGE = "the visit says another age"


@dataclass(frozen=True)
class Finding:
    kind: Kind
    severity: Severity
    term: str
    rule: str

    @property
    def message(self) -> str:
        return self.rule if self.kind in _RULE_ONLY else f"{NOUN[self.kind]} {self.rule}"


def supported(term: Term, s: Support) -> bool:
    if term.kind == "dose":
        return any(_mg(term.unit, v) in s.doses for v in term.values)
    if term.kind == "vital":
        if "/" in next(iter(term.values), ""):
            return bool(term.values & s.bps)
        return bool(term.values & s.numbers)
    if term.kind in ("number", "lab", "score"):
        return bool(term.values & s.numbers)
    if term.kind == "age":  # said as an age, or (no age said) as any number
        return bool(term.values & s.ages) or (not s.ages and bool(term.values & s.numbers))
    if term.kind == "amount":
        return any((v, term.unit) in s.amounts for v in term.values)
    if term.kind == "duration":
        return any(
            same_duration(in_days(v, term.unit), in_days(said, unit))
            for v in term.values
            for said, unit in s.durations
        )
    if term.kind == "drug":
        keys = set(term.key.split("|"))
        return bool(keys & s.drugs) or any(s.sounds_like(k) for k in keys)
    if term.kind == "frequency":
        return term.key in s.frequencies
    if term.kind == "procedure":
        return term.key in s.procedures
    if term.kind == "problem" and term.unit == "opposite":  # "hypothyroidism" said as such
        opposite_said = (
            OPPOSITES[term.key][0] in s.opposites and term.key not in NOT_CONTRADICTED_BY_OPPOSITE
        )
        return term.key in s.opposites or (not opposite_said and term.key in s.problems)
    if term.kind == "problem" and term.unit:  # "breast cancer": that kind, or the problem
        kinds = {k for family, k in s.subtypes if family == term.key}  # said without one
        return term.unit in kinds or (not kinds and term.key in s.problems)
    if term.kind == "problem":
        return bool(set(term.key.split("|")) & s.problems)
    if term.kind == "laterality":
        side, part = term.key.split(" ", 1)
        return (side, part) in s.sides
    return True


def contradicted(term: Term, s: Support) -> bool:
    """The linked turns say the same kind of thing with another value."""
    if term.kind == "dose":
        unit = _mg(term.unit, "0")[0]
        return any(u == unit for u, _ in s.doses)
    if term.kind == "laterality":
        side, part = term.key.split(" ", 1)
        return any(p == part and sd != side for sd, p in s.sides)
    if term.kind == "problem" and term.unit == "opposite":  # "hypo-" where "hyper-" was said
        if term.key in NOT_CONTRADICTED_BY_OPPOSITE:
            return False
        return OPPOSITES[term.key][0] in s.opposites and term.key not in s.opposites
    if term.kind == "problem" and term.unit:  # "colon cancer" where "breast cancer" was said
        return any(family == term.key for family, _ in s.subtypes)
    if term.kind == "age":  # "45-year-old" where the turn said "I'm fifty four"
        return bool(s.ages)
    if term.kind == "amount":  # "2 packs a day" where the turn said "half a pack"
        return any(unit == term.unit for _, unit in s.amounts)
    if term.kind in ("lab", "score"):  # "A1c 8.2." where the turn said "a1c ... 7.2"
        return any(lab == term.key for lab, _ in s.labs)
    if term.kind == "duration":
        # The number said only with another unit of time: "2 months" for "two weeks" (not
        # when it was also said alone: "thirty four and three" for "34 weeks 3 days").
        values = term.values - s.bare
        return any(said in values and unit != term.unit for said, unit in s.durations)
    return False


def judge(term: Term, linked: Support | None, whole: Support) -> Finding | None:
    if linked is not None:
        if supported(term, linked):
            return None
        if contradicted(term, linked):
            return Finding(term.kind, "high", term.text, CONTRADICTS)
    if supported(term, whole):
        return None if linked is None else Finding(term.kind, "low", term.text, ELSEWHERE)
    if term.kind == "duration" and contradicted(term, whole):
        return Finding("duration", "medium", term.text, OTHER_TIME_UNIT)
    if term.kind == "age" and contradicted(term, whole):  # an age is said once a visit
        return Finding("age", "high", term.text, OTHER_AGE)
    if term.kind in ("lab", "score") and contradicted(term, whole):
        # Medium: a visit says a result at several times ("sugars of 300 to 400, one
        # spike to 600"); the linked turns contradicting it is high (above).
        return Finding(term.kind, "medium", term.text, OTHER_LAB_VALUE)
    if term.kind in ("dose", "duration", "amount") and term.values & whole.numbers:
        return Finding("unit", "low", term.text, UNIT_NOT_SAID)
    message = NOT_SAID if linked is not None else NOT_SAID_ANYWHERE
    return Finding(term.kind, ABSENT_SEVERITY[term.kind], term.text, message)


def check_statement(text: str, linked: Support | None, whole: Support) -> list[Finding]:
    """Findings for one statement, most severe first (each term text once)."""
    findings: dict[tuple[str, str], Finding] = {}
    for term in claims(text):
        found = judge(term, linked, whole)
        if found is None:
            continue
        kept = findings.get((found.kind, found.term))  # two readings of one term: the worse
        if kept is None or SEVERITY_RANK[found.severity] > SEVERITY_RANK[kept.severity]:
            findings[(found.kind, found.term)] = found
    return sorted(findings.values(), key=lambda f: -SEVERITY_RANK[f.severity])


def at_least(findings: Iterable[Finding], severity: Severity) -> list[Finding]:
    return [f for f in findings if SEVERITY_RANK[f.severity] >= SEVERITY_RANK[severity]]
