"""The after-visit summary for the patient: written from the SIGNED note on request, in
plain language, through the notes service's LLM Gateway client, and checked like the note.

The check (``shared.evidence``) treats the signed note's statements and addenda as what
was "said": a drug, dose, number, frequency, side or allergy in the summary that the note
does not support is flagged, and the flags are stored and shown with the summary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.notes.soap import ChatClient
from shared.errors import MedscribeError
from shared.evidence import build_evidence, open_high_flags
from shared.prompts import SUMMARY_SECTIONS, build_summary_messages

# Summary section -> the evidence section it is checked as (plan: instructions are checked
# as actions, like a note's plan).
CHECKED_AS = dict(zip(SUMMARY_SECTIONS, ("subjective", "assessment", "plan"), strict=True))
KEYS = ("reason", "findings", "next_steps")
KEY_OF = dict(zip(SUMMARY_SECTIONS, KEYS, strict=True))
NOTHING = "Nothing to add."
MAX_TOKENS = 900
TEMPERATURE = 0.2


class SummaryFormatError(MedscribeError, ValueError):
    """The model's reply is not the three sections (no content in the message)."""


@dataclass(frozen=True)
class WrittenSummary:
    sections: dict[str, list[str]]  # reason, findings, next_steps
    text: str
    evidence: list[dict[str, Any]]
    open_high_flags: int


def parse_summary(reply: str) -> dict[str, list[str]]:
    """The three sections of a reply; SummaryFormatError if one is missing or empty."""
    out: dict[str, list[str]] = {k: [] for k in KEYS}
    key: str | None = None
    for raw in reply.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.endswith(":") and line[:-1] in KEY_OF:
            key = KEY_OF[line[:-1]]
        elif line.startswith(("- ", "* ")) and key is not None:
            item = " ".join(line[2:].split())
            if item and item != NOTHING:
                out[key].append(item)
        elif key is None:
            raise SummaryFormatError("text before the first section")
    seen = {KEY_OF[h] for h in KEY_OF if f"{h}:" in reply}
    if seen != set(KEYS):
        raise SummaryFormatError("a section is missing")
    if not any(out.values()):
        raise SummaryFormatError("the summary is empty")
    return out


def render_summary(sections: dict[str, list[str]]) -> str:
    blocks = []
    for heading, key in KEY_OF.items():
        items = sections.get(key) or []
        blocks.append(f"{heading}:\n" + "\n".join(f"- {i}" for i in items or [NOTHING]))
    return "\n\n".join(blocks) + "\n"


def note_lines(sections: dict[str, list[str]], addenda: Sequence[str]) -> list[tuple[int, str]]:
    """The signed note as numbered "turns" for the check (statements, then addenda)."""
    lines = [
        item
        for k in ("subjective", "objective", "assessment", "plan")
        for item in sections.get(k) or []
    ]
    return list(enumerate([*lines, *addenda]))


def check_summary(
    summary: dict[str, list[str]], note: dict[str, list[str]], addenda: Sequence[str]
) -> list[dict[str, Any]]:
    """Each summary statement linked to the note lines it rests on, with its flags; the
    ``section`` of each statement is the summary's key."""
    as_sections = {CHECKED_AS[h]: summary.get(KEY_OF[h]) or [] for h in SUMMARY_SECTIONS}
    evidence = build_evidence(as_sections, note_lines(note, addenda))
    back = {v: KEY_OF[h] for h, v in CHECKED_AS.items()}
    for st in evidence:
        st["section"] = back[st["section"]]
        st["id"] = f"{st['section']}-{st['index']}"
        for i, flag in enumerate(st["flags"]):
            flag["id"] = f"{st['id']}:{i}"
    return evidence


async def write_summary(
    client: ChatClient, model: str, note: dict[str, list[str]], addenda: Sequence[str]
) -> WrittenSummary:
    """One request (a second one if the first reply is not the three sections)."""
    messages = build_summary_messages(note, addenda)
    problem: SummaryFormatError | None = None
    for _ in range(2):
        reply = await client.chat(model, messages, temperature=TEMPERATURE, max_tokens=MAX_TOKENS)
        try:
            sections = parse_summary(reply.text)
        except SummaryFormatError as err:
            problem = err
            continue
        # Aligning is CPU work: a thread, so the API on this loop keeps answering.
        evidence = await asyncio.to_thread(check_summary, sections, note, addenda)
        return WrittenSummary(
            sections, render_summary(sections), evidence, open_high_flags(evidence)
        )
    assert problem is not None
    raise problem
