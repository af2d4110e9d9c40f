"""Precision and recall of the meaning checks on a hand-labelled set (written for this
check, not produced by the simulator): transcript turns and one note statement, labelled
supported or contradicted; paraphrase, scope, family history, temporality, questions,
hedges, medication actions, allergies (named, by a reaction, by a pronoun), frequencies
that change the dose and sides. Figures in docs/quality.md (bench/assertion_pairs.py
prints them per topic)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from shared.evidence.meaning import VisitMeaning, meaning_findings

DATA = Path(__file__).parent / "data" / "assertion_pairs.jsonl"
# Frequencies, sides and allergies written after their rules (0.95 / 0.79 when first
# run; five general gaps it showed were fixed: docs/quality.md).
HELDOUT = Path(__file__).parent / "data" / "heldout_pairs.jsonl"
# Floors below what the checks reach today (precision 0.99, recall 0.98): a rule change
# that loses ground fails here.
PRECISION_FLOOR = 0.95
RECALL_FLOOR = 0.95


def load(path: Path = DATA) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_set_is_large_balanced_and_covers_the_topics() -> None:
    pairs = load()
    labels = Counter(p["label"] for p in pairs)
    assert len(pairs) >= 150
    assert set(labels) == {"supported", "contradicted"}
    assert abs(labels["supported"] - labels["contradicted"]) <= 0.1 * len(pairs)
    topics = Counter(p["topic"] for p in pairs)
    for topic in ("paraphrase", "scope", "family", "action", "allergy", "frequency", "side"):
        assert topics[topic] >= 20, topic
    assert topics["temporality"] >= 8
    statements = " ".join(str(p["statement"]).lower() for p in pairs)
    turns = " ".join(" ".join(p["turns"]) for p in pairs).lower()  # type: ignore[arg-type]
    for phrase in ("denies", "negative for", "no history of"):
        assert phrase in statements or phrase in turns, phrase


@pytest.mark.parametrize("path", [DATA, HELDOUT], ids=["pairs", "heldout"])
def test_precision_and_recall_on_the_labelled_pairs(path: Path) -> None:
    tp = fp = fn = 0
    for pair in load(path):
        turns = [str(t) for t in pair["turns"]]  # type: ignore[attr-defined]
        visit = VisitMeaning.of(list(enumerate(turns)))
        flagged = bool(meaning_findings(str(pair["statement"]), visit, str(pair["section"])))
        contradicted = pair["label"] == "contradicted"
        tp += flagged and contradicted
        fp += flagged and not contradicted
        fn += contradicted and not flagged
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    assert precision >= PRECISION_FLOOR, (precision, tp, fp)
    assert recall >= RECALL_FLOOR, (recall, tp, fn)
