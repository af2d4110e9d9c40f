"""Precision and recall of the meaning checks on the hand-labelled pairs, per topic.

The pairs are ``tests/safety/data/assertion_pairs.jsonl`` (written for this check, not by
the simulator) and ``heldout_pairs.jsonl`` (frequencies, sides and allergies, written
after their rules; see docs/quality.md for what was fixed after their first run). A pair
counts as flagged when any meaning finding is raised (the test's measure), and in the
second table also when the term checks raise a high flag (what blocks signing) with all
of the pair's turns as the linked turns. Prints counts only,
never the pairs' text. Figures are in docs/quality.md.

    .venv/bin/python bench/assertion_pairs.py
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.evidence.check import at_least, check_statement  # noqa: E402
from shared.evidence.meaning import VisitMeaning, meaning_findings  # noqa: E402
from shared.evidence.terms import Support  # noqa: E402

DATA = ROOT / "tests" / "safety" / "data" / "assertion_pairs.jsonl"
# Written after the rules for frequencies, sides and allergies (docs/quality.md).
HELDOUT = ROOT / "tests" / "safety" / "data" / "heldout_pairs.jsonl"


def flagged(pair: dict[str, Any], *, terms: bool) -> bool:
    visit = VisitMeaning.of(list(enumerate(pair["turns"])))
    if meaning_findings(pair["statement"], visit, pair["section"]):
        return True
    if not terms:
        return False
    said = Support.of("\n".join(pair["turns"]))
    return bool(at_least(check_statement(pair["statement"], said, said), "high"))


def table(pairs: list[dict[str, Any]], *, terms: bool) -> None:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tp fp fn pairs
    for pair in pairs:
        hit = flagged(pair, terms=terms)
        contradicted = pair["label"] == "contradicted"
        for key in (pair["topic"], "all"):
            c = counts[key]
            c[0] += hit and contradicted
            c[1] += hit and not contradicted
            c[2] += contradicted and not hit
            c[3] += 1
    print("meaning checks and term checks" if terms else "meaning checks (the test's measure)")
    print(
        f"{'topic':<12} {'pairs':>5} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>6}"
    )
    for topic in sorted(counts, key=lambda t: (t == "all", t)):
        tp, fp, fn, n = counts[topic]
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        print(f"{topic:<12} {n:>5} {tp:>4} {fp:>4} {fn:>4} {precision:>9.3f} {recall:>6.3f}")


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    pairs = load(DATA)
    table(pairs, terms=False)
    print()
    table(pairs, terms=True)
    print("\nheld-out pairs (frequencies, sides, allergies)")
    table(load(HELDOUT), terms=False)


if __name__ == "__main__":
    main()
