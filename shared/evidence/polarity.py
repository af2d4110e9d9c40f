"""Open-class meaning flips of one edited turn: a negation dropped or added, a direction
turned, a frequency or time of day changed.

The concept checks (``meaning.py``) know clinical concepts and drugs; an edit can flip
anything a patient says: "not pregnant" -> "pregnant", "unable to walk" -> "able to walk",
"no longer taking lisinopril" -> "taking lisinopril", "getting worse" -> "getting better",
"increase the dose" -> "decrease the dose", "every other day" -> "every day", "at
bedtime" -> "in the morning". An edit only cleans up a turn (spelling, drug names,
numbers as digits, punctuation), so the rules can be strict without flagging a clean-up:

- **negation**: a word the turn says inside a negation ("not", "n't", "no", "never",
  "unable", "without", "denies", "no longer", ...; the scope runs a few words to the end of
  the clause) must not stand in the edit only in sentences without any negation, and the
  reverse. A negation that moves within its sentence ("I don't think it's broken" -> "I
  think it's not broken") is not a flip.
- **direction**: the turn says one side only (more / less of a dose, better / worse,
  resolved / persisting) and the edit only the other.
- **frequency**: every frequency of the edit must read the same (doses a day, as needed)
  as one of the turn's; a frequency the turn did not say is a change too.
- **time of day**: the turn says only morning, the edit only night (or the reverse).
- **unit**: a number said with one unit stands in the edit with another of the same kind
  (units -> mg, days -> weeks).
Rules over words, pure functions; reason codes only, never the words.
"""

from __future__ import annotations

import re

from shared.evidence.frequency import Frequency, compare, frequencies, normalise
from shared.evidence.terms import measured

_CONTRACTED_NOT = re.compile(r"^[a-z]+n't$")
_NEGATORS = frozenset({
    "no", "not", "never", "none", "nothing", "nobody", "neither", "nor", "without", "deny",
    "denies", "denied", "denying", "negative", "unable", "cannot", "nope", "nah", "non",
    "n't",
})  # fmt: skip
# "No, no, it's just the knee", "no okay": an answer, not a denial of what follows. Such a
# word negates only when a content word comes next ("no fever", "nope, never had it").
_PARTICLES = frozenset({"no", "nope", "nah"})
_BARE_NOT = frozenset({
    "dont", "doesnt", "didnt", "cant", "wont", "isnt", "wasnt", "arent", "werent", "havent",
    "hasnt", "hadnt", "couldnt", "shouldnt", "wouldnt", "aint",
})  # fmt: skip
_LONGER = "longer"  # "no longer taking it": "no" negates what follows, not "longer"
# Where a negation's scope ends: a new clause, a pronoun starting one ("no fever I have a
# cough"), a contrast.
_SCOPE_ENDS = frozenset({
    "but", "and", "or", "though", "although", "however", "except", "because", "so", "then",
    "i", "i'm", "i've", "i'd", "i'll", "you", "he", "she", "we", "they", "it's", "he's",
    "she's", "we're", "they're", "there's", "which", "that's", "who", "it", "that", "this",
    "there", "okay", "ok", "well", "um", "uh", "hey", "yeah", "right", "let's", "since",
    "when", "while", "if", "also", "what", "where", "how", "why",
})  # fmt: skip
_SCOPE_WORDS = 5
_STOP = frozenset({
    "the", "a", "an", "and", "or", "of", "to", "in", "on", "at", "for", "with", "from", "by",
    "is", "am", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having",
    "do", "does", "did", "doing", "get", "got", "gets", "getting", "any", "anything", "some",
    "really", "very", "much", "just", "that", "this", "these", "those", "there", "it", "its",
    "my", "your", "his", "her", "our", "their", "me", "him", "them", "us", "you", "i", "we",
    "he", "she", "they", "what", "so", "um", "uh", "uhm", "like", "know", "yeah", "okay",
    "well", "too", "also", "more", "all", "can", "could", "would", "will", "should", "may",
    "might", "must", "about", "than", "then", "now", "still", "ever", "yet", "if", "as",
    "sure", "think", "lot", "bit", "little", "kind", "sort", "mean", "one",
})  # fmt: skip
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[.,;:!?]")
_SENTENCE_END = frozenset(".!?")
_CLAUSE_END = frozenset(",;:")

# Opposite directions: (code, one side, other side). Words, or phrases of words.
_DIRECTIONS: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = (
    (
        "flipped_direction",
        frozenset({"increase", "increased", "increasing", "raise", "raised", "raising",
                   "double", "doubled", "doubling", "bump up", "go up", "up the dose",
                   "higher dose", "titrate up"}),
        frozenset({"decrease", "decreased", "decreasing", "reduce", "reduced", "reducing",
                   "halve", "halved", "cut back", "cut down", "go down", "lower the dose",
                   "lower dose", "lower your", "taper", "tapering", "titrate down"}),
    ),
    (
        "flipped_direction",
        frozenset({"better", "improved", "improving", "improves", "improvement"}),
        frozenset({"worse", "worsened", "worsening", "worsens", "deteriorated",
                   "deteriorating"}),
    ),
    (
        "flipped_direction",
        frozenset({"resolved", "went away", "gone away", "cleared up", "subsided", "healed"}),
        frozenset({"persists", "persisted", "persistent", "ongoing", "lingering", "lingers"}),
    ),
    (
        "flipped_direction",
        frozenset({"more", "most"}),
        frozenset({"less", "least", "fewer"}),
    ),
    (
        "flipped_direction",
        frozenset({"went up", "gone up", "going up", "came up", "bigger", "larger", "growing",
                   "grew", "spreading"}),
        frozenset({"went down", "gone down", "going down", "came down", "smaller", "shrinking",
                   "shrunk", "shrank"}),
    ),
    (
        "flipped_direction",
        frozenset({"high", "higher", "elevated"}),
        frozenset({"low", "lower"}),
    ),
    (
        "flipped_direction",
        frozenset({"above", "upper"}),
        frozenset({"below", "beneath", "lower"}),
    ),
    (
        "changed_timing",
        frozenset({"before"}),
        frozenset({"after"}),
    ),
    (
        "changed_timing",
        frozenset({"morning", "mornings", "breakfast", "am"}),
        frozenset({"night", "nights", "nighttime", "bedtime", "evening", "evenings", "pm",
                   "before bed", "dinner", "supper"}),
    ),
)  # fmt: skip


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("’", "'"))


def _stem(word: str) -> str:
    """Light stem so "walk" / "walking" / "walks" are one word."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _is_negator(token: str) -> bool:
    """ "not", "can't", "nothing's" ("nothing has"), "dont" (written without apostrophe)."""
    return (
        token in _NEGATORS
        or token.split("'", 1)[0] in _NEGATORS
        or bool(_CONTRACTED_NOT.match(token))
        or token in _BARE_NOT
    )


def _content(token: str) -> bool:
    return token.isalpha() and len(token) >= 3 and token not in _STOP


class _Read:
    """Per sentence: its content words (stemmed) and whether it has a negation; and every
    word inside a negation's scope."""

    def __init__(self, text: str) -> None:
        self.negated: set[str] = set()
        self.sentences: list[tuple[set[str], bool]] = []
        sentence: list[str] = []
        for token in [*_tokens(text), "."]:
            if token in _SENTENCE_END:
                if sentence:
                    self._sentence(sentence)
                sentence = []
            else:
                sentence.append(token)

    def _sentence(self, tokens: list[str]) -> None:
        negated_here = False
        for i, token in enumerate(tokens):
            if not _is_negator(token):
                continue
            if token in _PARTICLES and not (i + 1 < len(tokens) and _content(tokens[i + 1])):
                continue
            negated_here = True
            for nxt in tokens[i + 1 : i + 1 + _SCOPE_WORDS]:
                if nxt in _CLAUSE_END or nxt in _SCOPE_ENDS:
                    break
                if _content(nxt) and nxt != _LONGER:
                    self.negated.add(_stem(nxt))
        self.sentences.append(({_stem(t) for t in tokens if _content(t)}, negated_here))

    def only_plain(self, word: str) -> bool:
        """Said, and only in sentences with no negation."""
        hits = [negated for words, negated in self.sentences if word in words]
        return bool(hits) and not any(hits)


def negation_flipped(source: str, candidate: str) -> bool:
    """A word negated on one side stands on the other only where nothing is negated."""
    said, edit = _Read(source), _Read(candidate)
    dropped = any(edit.only_plain(w) for w in said.negated)
    added = any(said.only_plain(w) for w in edit.negated)
    return dropped or added


def _sides(text: str, words: frozenset[str]) -> bool:
    padded = " " + " ".join(t for t in _tokens(text) if t.isalpha() or "'" in t) + " "
    return any(f" {w} " in padded for w in words)


def direction_flips(source: str, candidate: str) -> set[str]:
    """Codes of directions the edit turned: the turn says only one side, the edit only the
    other."""
    out: set[str] = set()
    for code, one, other in _DIRECTIONS:
        s1, s2 = _sides(source, one), _sides(source, other)
        c1, c2 = _sides(candidate, one), _sides(candidate, other)
        if (s1 and not s2 and c2 and not c1) or (s2 and not s1 and c1 and not c2):
            out.add(code)
    return out


def _frequencies(text: str) -> list[Frequency]:
    low = normalise(text)
    return [f for _, _, f in frequencies(low)]


def _same(a: Frequency, b: Frequency) -> bool:
    return compare(a, b) == "same" and compare(b, a) == "same"


def _total(found: list[Frequency]) -> list[Frequency]:
    """The day's total of several scheduled frequencies ("once in the morning and once at
    night" is twice a day), as one more reading; none for fewer than two."""
    rates = [f.per_day for f in found if f.per_day is not None and not f.prn]
    if len(rates) < 2:
        return []
    return [Frequency("total", (sum(r[0] for r in rates), sum(r[1] for r in rates)), False)]


def frequency_changed(source: str, candidate: str) -> bool:
    """A frequency of the edit that reads as none of the turn's (or the turn has none). A
    day's total said in parts, or parts of a total, read the same ("twice a day" ->
    "morning and night")."""
    said = _frequencies(source)
    said += _total(said)
    edit = _frequencies(candidate)
    if all(any(_same(f, s) for s in said) for f in edit):
        return False
    return not any(_same(t, s) for t in _total(edit) for s in said)


def unit_changed(source: str, candidate: str) -> bool:
    """A number the turn said with one unit that the edit gives another unit of the same
    kind: "ten units of insulin" -> "10 mg", "three days ago" -> "3 weeks ago" (mass
    compares in mg: "500 mg" -> "0.5 g" is the same dose)."""
    said = measured(source, strict=False)
    for value, kind, unit in measured(candidate, strict=True):
        others = {u for v, k, u in said if v == value and k == kind}
        if others and unit not in others:
            return True
    return False


def open_flips(source: str, candidate: str) -> set[str]:
    """Reason codes of the open-class checks for one edit."""
    codes = direction_flips(source, candidate)
    if unit_changed(source, candidate):
        codes.add("changed_unit")
    if negation_flipped(source, candidate):
        codes.add("flipped_negation")
    if frequency_changed(source, candidate):
        codes.add("changed_frequency")
    return codes
