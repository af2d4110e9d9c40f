"""Sides (left / right / bilateral) of body parts and findings, however they were said.

"left knee", "right lower extremity", "both knees", "left-sided chest pain", "my knee hurts
on the left side", "my ankle, the left one", "Which ear?" / "The right one.": each is a
(side, part), the part by its region ("tympanic membrane", "otitis" -> ear; "lower
extremity" -> leg; "base", "lobe" -> lung). A side said without a part ("on the left",
"the right one") belongs to the part named last, in the same line or the two before (a
line is a turn). A side named in a question counts once the answer says yes. A clause
that calls the part normal ("the left one looks fine") is marked ``normal``: a finding
on that side is not supported by it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.evidence.lexicon import BODY_PARTS, SIDES

# Region of each part word (a word not listed is its own region, plural to singular).
_REGION: dict[str, str] = {
    "knees": "knee", "patella": "knee", "kneecap": "knee", "meniscus": "knee",
    "ears": "ear", "tympanic": "ear", "eardrum": "ear", "tm": "ear", "otitis": "ear",
    "eyes": "eye", "conjunctiva": "eye", "pupil": "eye",
    "lungs": "lung", "base": "lung", "bases": "lung", "lobe": "lung", "hemithorax": "lung",
    "legs": "leg", "arms": "arm", "hips": "hip", "shoulders": "shoulder",
    "rotator": "shoulder", "ankles": "ankle", "feet": "foot", "hands": "hand",
    "wrists": "wrist", "elbows": "elbow", "fingers": "finger", "toes": "toe",
    "breasts": "breast", "kidneys": "kidney", "sides": "side",
    "extremities": "extremity", "quadrants": "quadrant", "flank": "flank",
    "calves": "calf", "thighs": "thigh", "shins": "shin", "heels": "heel",
    "temples": "temple", "buttocks": "buttock", "ovaries": "ovary", "testicles": "testicle",
    "breath": "lung", "metatarsal": "foot", "metatarsals": "foot", "toenail": "toe",
    "metacarpal": "hand", "metacarpals": "hand", "palm": "hand", "fingernail": "finger",
    "tibia": "leg", "fibula": "leg", "femur": "thigh", "radius": "forearm", "ulna": "forearm",
    "clavicle": "clavicle", "collarbone": "clavicle", "rib": "rib", "ribs": "rib",
    "hamstrings": "hamstring", "quads": "quad", "tonsil": "tonsil", "tonsils": "tonsil",
}  # fmt: skip
_PARTS = BODY_PARTS | frozenset(_REGION)
# Words that may stand between a side and its part: "left lower extremity".
_BETWEEN = frozenset(
    """and or upper lower middle mid big great little small index ring pinky inner outer
    anterior posterior lateral medial front of both left right first second third fourth
    fifth distal proximal""".split()  # noqa: SIM905
)
_AFTER_OF = frozenset({"my", "the", "your", "his", "her"})  # "both of my knees"
# "lower extremity" is a leg; the lower and upper quadrants are different places.
_QUALIFIED = {
    ("lower", "extremity"): "leg", ("upper", "extremity"): "arm",
    ("lower", "quadrant"): "lower quadrant", ("upper", "quadrant"): "upper quadrant",
}  # fmt: skip
_REACH = 4  # words from a side to its part
_TOKEN = re.compile(r"[a-z]+|[.!?\n,;]")
# "on the left", "the right one", "left side", "the left." -- a side without its part.
_BARE_SIDE = re.compile(
    r"(?:\b(?:on|in|to|at) (?:the|your|my|his|her) (left|right)\b(?! (?:away|now|here|there|"
    r"after|before))|\bthe (left|right) (?:one|side)\b|\b(left|right) side\b|"
    r"^\W*(?:the|my|it's the|it's my|on the) (left|right)(?: one)?\W*$|"
    r"^\W*(left)(?: one)?\W*$|\bboth (?:sides|of them)\b)"
)
_NORMAL = re.compile(
    r"\b(normal|fine|okay|ok|good|clear|unremarkable|intact|no|not|isn't|doesn't|without|"
    r"negative)\b"
)
# Clinicians' shorthand ("L shoulder", "(R) knee", "Rt ankle", "bilat knees"): a side only
# right before its part ("2 L of fluid", "R/O" are none).
_SHORT_SIDES = {"l": "left", "r": "right", "lt": "left", "rt": "right", "bilat": "bilateral"}
_WORD_SIDES = SIDES | _SHORT_SIDES
_ANY_SIDE = re.compile(r"\b(left|right|both|bilateral|lt|rt|bilat|l|r)\b")
_PART_WORD = re.compile(r"\b(" + "|".join(sorted(_PARTS, key=len, reverse=True)) + r")\b")
_YES = re.compile(r"^\W*(yes|yeah|yep|yup|correct|that's right|it is|uh-huh)\b")
_CARRY_LINES = 2


@dataclass(frozen=True)
class SideMention:
    side: str  # left / right / bilateral
    part: str  # region
    shown: str  # as written: "left knee", "on the right"
    normal: bool = False  # said of a part called normal ("the left one looks fine")


def region(word: str, before: str = "") -> str:
    if (before, word) in _QUALIFIED:
        return _QUALIFIED[(before, word)]
    if (before, _REGION.get(word, word)) in _QUALIFIED:
        return _QUALIFIED[(before, _REGION.get(word, word))]
    return _REGION.get(word, word[:-1] if word.endswith("s") and word[:-1] in _PARTS else word)


def _clauses(line: str) -> list[str]:
    return [c for c in re.split(r"(?<=[.!?;,])\s+", line) if c.strip()]


class _Reader:
    def __init__(self) -> None:
        self.part: str | None = None
        self.age = 0
        self.pending: list[SideMention] = []  # sides a question named

    def line(self, line: str) -> list[SideMention]:
        self.age += 1
        if self.age > _CARRY_LINES:
            self.part = None
        if not _ANY_SIDE.search(line) and not (self.pending and _YES.search(line)):
            # Most turns name no side: only the part they name last is kept, for an
            # answer like "The right one." that may follow.
            self.pending = []
            parts = _PART_WORD.findall(line)
            if parts:
                self.part, self.age = region(parts[-1]), 0
            return []
        out: list[SideMention] = []
        if self.pending and _YES.search(line):
            out.extend(self.pending)
        self.pending = []
        for sentence in re.findall(r"[^.!?]+[.!?]*", line):
            found: list[SideMention] = []
            for clause in _clauses(sentence):
                found.extend(self._clause(clause))
            if sentence.rstrip().endswith("?"):
                self.pending.extend(found)
            else:
                out.extend(found)
        return out

    def _clause(self, clause: str) -> list[SideMention]:
        toks = _TOKEN.findall(clause)
        normal = bool(_NORMAL.search(clause))
        out: list[SideMention] = []
        used: set[int] = set()  # token indexes of sides already placed
        for i, tok in enumerate(toks):
            if tok not in _WORD_SIDES:
                continue
            placed = self._part_after(toks, i)
            if placed is not None:
                j, name = placed
                out.append(SideMention(_WORD_SIDES[tok], name, " ".join(toks[i : j + 1]), normal))
                used.add(i)
        parts = [(i, region(t, toks[i - 1] if i else "")) for i, t in enumerate(toks)
                 if t in _PARTS]  # fmt: skip
        for m in _BARE_SIDE.finditer(clause):
            side_word = next(g for g in m.groups() if g) if any(m.groups()) else "both"
            at = len(_TOKEN.findall(clause[: m.start()]))
            if any(u >= at and u <= at + 4 for u in used):
                continue  # "the left knee": placed already
            before = [name for i, name in parts if i < at and name != "side"]
            part: str | None
            if before:
                part = before[-1]
            elif m.group(3) or any(name == "side" for _, name in parts):
                part = "side"  # "pain in my left side", "my side, on the right"
            else:
                part = self.part
            if part is not None:
                side = "bilateral" if side_word == "both" else SIDES[side_word]
                out.append(SideMention(side, part, m.group(0).strip(" .!?"), normal))
        if parts:
            self.part, self.age = parts[-1][1], 0
        return out

    def _part_after(self, toks: list[str], i: int) -> tuple[int, str] | None:
        """The part a side word names: "left knee", "right lower extremity", "left-sided
        chest pain" (else the side itself); None for "left side" (the bare rule reads it
        with the part named before) and for a "left" that is no side ("I left work")."""
        sided = i + 1 < len(toks) and toks[i + 1] == "sided"
        for j in range(i + 1 + sided, min(i + 1 + sided + _REACH, len(toks))):
            word = toks[j]
            if word in ("side", "sides"):
                if j + 1 < len(toks) and toks[j + 1] == "of":
                    continue  # "the left side of my knee"
                break
            if word in _PARTS:
                return j, region(word, toks[j - 1])
            if word not in _BETWEEN and not (word in _AFTER_OF and toks[j - 1] == "of"):
                break
        return (i + 1, "side") if sided else None


def side_mentions(text: str) -> list[SideMention]:
    """Every side of ``text`` with its part, in reading order; lines are turns."""
    reader = _Reader()
    out: list[SideMention] = []
    for line in text.lower().split("\n"):
        out.extend(reader.line(line))
    return out


def parts_named(text: str) -> set[str]:
    """Regions of every part word of ``text``, with a side or without."""
    toks = _TOKEN.findall(text.lower())
    return {region(t, toks[i - 1] if i else "") for i, t in enumerate(toks) if t in _PARTS}
