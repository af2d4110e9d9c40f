"""Statement <-> turn alignment, for statements the model gave no (valid) turns for.

Score of a turn = share of the statement's content words (lightly stemmed) found in the
turn, plus a bonus per clinical term of the statement the turn supports (read as the
checker reads it: "BP 120/80" rests on "one twenty over eighty"). The best turn is linked
when it clears a floor; close runners-up too (a statement may sum up several turns).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.evidence.check import supported
from shared.evidence.terms import Support, claims

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOPWORDS = frozenset(
    """
    a an the and or but if of to in on at for with without from by as is are was were be
    been being it its this that these those there here i you he she we they me him her us
    them my your his our their mine yours not no do does did have has had will would can
    could should may might just so very really um uh okay ok yeah yes well like also then
    than about into over under up down out what which who when where how all any some
    patient patients reports report states stated says said mr mrs ms dr doctor
    """.split()  # noqa: SIM905 - a word list reads better as text
)
MIN_SCORE = 0.3
RUNNER_UP = 0.75  # a turn within this share of the best score is linked too
MAX_LINKS = 3
TERM_BONUS = 0.35


def stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content(text: str) -> set[str]:
    return {stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


@dataclass(frozen=True)
class TurnWords:
    seq: int
    words: set[str]
    support: Support


def index_turns(turns: Sequence[tuple[int, str]]) -> list[TurnWords]:
    return [TurnWords(seq, content(text), Support.of(text)) for seq, text in turns]


def align(statement: str, turns: Sequence[TurnWords]) -> list[int]:
    """Seqs of the turns ``statement`` rests on (best first); [] when none is close."""
    words = content(statement)
    terms = [t for t in claims(statement) if t.kind != "problem"]
    if not words and not terms:
        return []
    scored: list[tuple[float, int]] = []
    for turn in turns:
        overlap = len(words & turn.words) / max(len(words), 1)
        bonus = TERM_BONUS * sum(supported(t, turn.support) for t in terms)
        score = overlap + bonus
        if score > 0:
            scored.append((score, turn.seq))
    if not scored:
        return []
    scored.sort(key=lambda item: (-item[0], item[1]))
    best = scored[0][0]
    if best < MIN_SCORE:
        return []
    return [seq for score, seq in scored[:MAX_LINKS] if score >= best * RUNNER_UP]
