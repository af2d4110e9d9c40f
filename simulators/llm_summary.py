"""The simulator's after-visit summary: the signed note's statements in plain words.

Deterministic and extractive like the SOAP writer: each bullet is a statement of the note
with a few clinical phrasings swapped for everyday ones, never a new fact (drug names,
doses, numbers and sides are copied as written). The fault mode ``summary_fabricate``
adds one instruction the note does not contain, so the evidence check can be tested.
"""

from __future__ import annotations

import re

from shared.prompts import NOT_DISCUSSED, SUMMARY_SECTIONS

FABRICATED_INSTRUCTION = "Take 40 mg of warfarin daily."
NOTHING = "Nothing to add."
# Note section -> summary section.
_SECTION_OF = {
    "Subjective": SUMMARY_SECTIONS[0],
    "Objective": SUMMARY_SECTIONS[1],
    "Assessment": SUMMARY_SECTIONS[1],
    "Plan": SUMMARY_SECTIONS[2],
    "Addendum": SUMMARY_SECTIONS[2],
}
_PLAIN = (
    (r"^Patient reports\s+", "You told us about "),
    (r"^Patient\s+", "You "),
    (r"^Probable\s+", "Likely "),
    (r"^Trial of\s+", "Try "),
    (r"^Follow up in\s+", "Come back in "),
    (r"\bbilateral\b", "both sides"),
)
_NOTE = re.compile(r"<note>\n?(.*?)\n?</note>", re.DOTALL)


def plain(statement: str) -> str:
    out = statement
    for pattern, repl in _PLAIN:
        out = re.sub(pattern, repl, out, flags=re.IGNORECASE)
    return out


def summary_answer(user: str, *, fabricate: bool = False) -> str:
    m = _NOTE.search(user)
    chosen: dict[str, list[str]] = {s: [] for s in SUMMARY_SECTIONS}
    section: str | None = None
    for raw in (m.group(1) if m else user).splitlines():
        line = raw.strip()
        if line.endswith(":") and line[:-1] in _SECTION_OF:
            section = _SECTION_OF[line[:-1]]
        elif line.startswith("- ") and section is not None:
            item = line[2:].strip()
            if item and item != NOT_DISCUSSED:
                chosen[section].append(plain(item))
    if fabricate:
        chosen[SUMMARY_SECTIONS[2]].append(FABRICATED_INSTRUCTION)
    out: list[str] = []
    for name in SUMMARY_SECTIONS:
        out.append(f"{name}:")
        out.extend(f"- {item}" for item in chosen[name] or [NOTHING])
    return "\n".join(out)
