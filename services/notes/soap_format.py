"""Checking a SOAP reply: four sections, in order, bullets only, nothing outside them.

``parse_soap`` returns the note in canonical form (the text re-rendered from the parsed
bullets) or raises :class:`SoapFormatError` whose message names the problem in our own
words (section names, line counts), never a quote of the reply: it is logged, stored as
the note's ``problem`` and sent back to the model in the retry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.errors import MedscribeError
from shared.prompts import NOT_DISCUSSED

SECTIONS = ("subjective", "objective", "assessment", "plan")
# NOT_DISCUSSED: the placeholder bullet of an empty section (shared with the simulator).
TITLES = {s: s.title() for s in SECTIONS}

_HEADING = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*(subjective|objective|assessment|plan)\s*(?:\*\*|__)?"
    r"\s*:?\s*(?:\*\*|__)?\s*$",
    re.IGNORECASE,
)
# Heading with content on the same line ("Plan: - start ..."), which we do not accept.
_HEADING_INLINE = re.compile(r"^\s*(?:\*\*)?(subjective|objective|assessment|plan)\s*:", re.I)
_BULLET = re.compile(r"^(\s*)(?:[-*•‣▪–]|\d{1,2}[.)])\s+(.*\S)\s*$")


class SoapFormatError(MedscribeError, ValueError):
    """The reply is not a four-section note (the message: section names and counts)."""


@dataclass(frozen=True)
class SoapNote:
    sections: dict[str, list[str]]

    @property
    def text(self) -> str:
        return render(self.sections)

    @property
    def bullets(self) -> list[str]:
        return [b for s in SECTIONS for b in self.sections[s]]


def render(sections: Mapping[str, Sequence[str]]) -> str:
    blocks = []
    for name in SECTIONS:
        bullets = "".join(f"\n- {b}" for b in sections.get(name, ()))
        blocks.append(f"{TITLES[name]}:{bullets}")
    return "\n\n".join(blocks) + "\n"


def _strip_fence(text: str) -> str:
    lines = text.strip().splitlines()
    if len(lines) >= 2 and lines[0].startswith("```") and lines[-1].strip() == "```":
        return "\n".join(lines[1:-1])
    return text


def parse_soap(reply: str) -> SoapNote:
    """The note in ``reply`` or SoapFormatError naming the first problem found."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    before = 0
    for raw in _strip_fence(reply).splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        heading = _HEADING.match(line)
        if heading:
            name = heading.group(1).lower()
            if name in sections:
                raise SoapFormatError(f"the {TITLES[name]} section appears twice")
            expected = SECTIONS[len(sections)]
            if name != expected:
                raise SoapFormatError(
                    f"sections out of order: {TITLES[name]} came where {TITLES[expected]} belongs"
                )
            sections[name], current = [], name
            continue
        if _HEADING_INLINE.match(line):
            raise SoapFormatError("a section heading must stand on its own line")
        if current is None:
            before += 1
            continue
        bullet = _BULLET.match(line)
        if bullet:
            sections[current].append(" ".join(bullet.group(2).split()))
        elif raw[:1].isspace() and sections[current]:  # wrapped continuation of a bullet
            sections[current][-1] += " " + " ".join(line.split())
        else:
            raise SoapFormatError(f"text that is not a bullet in the {TITLES[current]} section")
    if before:
        raise SoapFormatError(f"{before} line(s) of text before the Subjective section")
    absent = [TITLES[s] for s in SECTIONS if s not in sections]
    if absent:
        raise SoapFormatError(f"missing section(s): {', '.join(absent)}")
    if not any(sections.values()):
        raise SoapFormatError("all four sections are empty")
    return SoapNote(sections)


def merge_mechanically(notes: Sequence[SoapNote]) -> SoapNote:
    """Union of the parts' bullets in order, exact repeats removed (the safe fallback)."""
    merged: dict[str, list[str]] = {s: [] for s in SECTIONS}
    for note in notes:
        for s in SECTIONS:
            for b in note.sections[s]:
                if b != NOT_DISCUSSED and b not in merged[s]:
                    merged[s].append(b)
    return SoapNote({s: bullets or [NOT_DISCUSSED] for s, bullets in merged.items()})
