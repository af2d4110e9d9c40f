"""Scores of one written note: ROUGE against the reference, sections, evidence, flags,
and (fault mode) which fabricated statements the checker caught."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.evidence.statements import NOT_DISCUSSED, SECTIONS

# A fabrication counts as caught when its statement carries a high flag (the level that
# stops signing); a true statement is a false alarm when it carries a medium or high flag
# (one the clinician has to look at). Low flags ("said elsewhere") are informational.
CAUGHT_AT = ("high",)
ALARM_AT = ("high", "medium")


def rouge(candidate: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F1 (stemmed), as the ACI-Bench paper reports them."""
    from rouge_score import rouge_scorer  # optional dependency: the `eval` extra

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    scores = scorer.score(reference, candidate)
    return {k: round(v.fmeasure, 4) for k, v in scores.items()}


def content_statements(statements: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [s for s in statements if str(s.get("text", "")).strip() != NOT_DISCUSSED]


def section_completeness(sections: Mapping[str, Sequence[str]]) -> float:
    """Share of the four sections with at least one real statement."""
    filled = sum(
        1 for s in SECTIONS if any(b.strip() != NOT_DISCUSSED for b in sections.get(s) or [])
    )
    return filled / len(SECTIONS)


def _severities(statement: Mapping[str, Any]) -> set[str]:
    return {str(f.get("severity")) for f in statement.get("flags") or []}


# Meaning fabrications and flags (issue 25), reported apart from number/drug/side ones.
MEANING_KINDS = frozenset({"negation", "experiencer", "action", "temporality", "allergy"})


def group_of(kind: str) -> str:
    return "meaning" if kind in MEANING_KINDS else "terms"


@dataclass
class CheckScore:
    statements: int = 0
    with_evidence: int = 0
    links: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)  # by severity
    flag_kinds: Counter[str] = field(default_factory=Counter)  # high flags by kind
    unsupported: int = 0  # statements with a medium or high flag
    fabricated: int = 0
    caught: int = 0
    caught_by_kind: Counter[str] = field(default_factory=Counter)
    fabricated_by_kind: Counter[str] = field(default_factory=Counter)
    true_statements: int = 0
    false_alarms: int = 0
    # True statements with a medium or high flag of each kind (a statement once per kind).
    false_alarms_by_kind: Counter[str] = field(default_factory=Counter)
    false_alarms_by_group: Counter[str] = field(default_factory=Counter)  # meaning | terms


def score_checks(
    statements: Sequence[Mapping[str, Any]], fabrications: Sequence[Mapping[str, Any]] = ()
) -> CheckScore:
    """Evidence and flags of a note; fabrications are matched by section and text."""
    fabricated = {(str(f["section"]), str(f["text"])): str(f["kind"]) for f in fabrications}
    score = CheckScore()
    for st in content_statements(statements):
        score.statements += 1
        score.with_evidence += bool(st.get("seqs"))
        score.links[str(st.get("links"))] += 1
        severities = _severities(st)
        for f in st.get("flags") or []:
            score.flags[str(f.get("severity"))] += 1
            if f.get("severity") == "high":
                score.flag_kinds[str(f.get("kind"))] += 1
        score.unsupported += bool(severities & set(ALARM_AT))
        kind = fabricated.get((str(st.get("section")), str(st.get("text"))))
        if kind is not None:
            score.fabricated += 1
            score.fabricated_by_kind[kind] += 1
            if severities & set(CAUGHT_AT):
                score.caught += 1
                score.caught_by_kind[kind] += 1
        else:
            score.true_statements += 1
            score.false_alarms += bool(severities & set(ALARM_AT))
            flagged = [f for f in st.get("flags") or [] if f.get("severity") in ALARM_AT]
            kinds = {str(f.get("kind")) for f in flagged}
            score.false_alarms_by_kind.update(kinds)
            score.false_alarms_by_group.update({group_of(k) for k in kinds})
    return score
