"""The clinical prompts sent to the LLM Gateway, and the builders of their message lists.

One module so the editor, the notes service and the gateway simulator agree on the wire
form. Each system prompt starts with a stable task marker (``[medscribe:…]``) that the
simulator uses to recognise the task; real models simply read it as a heading. Bump a
``*_PROMPT_VERSION`` whenever a prompt changes: the editor's result cache is keyed on it.
The SOAP prompt itself, and the check of its replies, are the notes service's
(``services/notes/soap_prompt.py``, ``soap_format.py``): here only its marker and sections.

User messages delimit transcript text with tags (``<turn>``, ``<context>``, ``<transcript>``)
so that the model, and the simulator, can tell the text to work on from the instructions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

EDIT_MARKER = "[medscribe:turn-edit]"
EDIT_BATCH_MARKER = "[medscribe:turn-edit-batch]"
SOAP_MARKER = "[medscribe:soap-note]"
SUMMARY_MARKER = "[medscribe:after-visit-summary]"

EDIT_PROMPT_VERSION = "edit-v2"

# The clinical-edit prompt of the original real-time scribe guide, made stricter about
# numbers and context turns.
_EDIT_RULES = """\
You are a clinical transcription editor. You receive one turn of a live doctor-patient
conversation transcribed by speech recognition.
Rules:
- Keep the speaker's words and meaning. Do not summarise, reorder or drop content.
- Fix misrecognised drug names, dosages and units, anatomy, and proper nouns.
- Speech recognition splits and respells clinical terms ("a tour of a statin",
  "lisa nopril"): when a word or phrase is phonetically close to a drug, dose or
  anatomical term, correct it to the most likely clinical term.
- Fix capitalisation and punctuation. Use U.S. clinical writing style.
- Invent nothing: add no number, drug, dose, diagnosis or finding that was not said.
- Text inside <context> is earlier conversation, given only to resolve references.
  Never edit it and never copy it into your answer."""

EDIT_SYSTEM_PROMPT = f"""{EDIT_MARKER}
{_EDIT_RULES}
- Reply with the corrected text of the turn inside <turn> only: no quotes, no tags,
  no commentary. If nothing needs fixing, reply with the turn unchanged."""

EDIT_BATCH_SYSTEM_PROMPT = f"""{EDIT_BATCH_MARKER}
{_EDIT_RULES}
- Several turns are given, each as <turn n="K">…</turn>. Edit each one on its own.
- Reply with exactly the same turns, in the same order, each as <turn n="K">corrected
  text</turn>, and nothing else."""

# The after-visit summary for the patient, written from the SIGNED note only.
SUMMARY_PROMPT_VERSION = "summary-v1"
SUMMARY_SECTIONS = ("Why you came in", "What we found", "What to do next")
SUMMARY_SYSTEM_PROMPT = f"""{SUMMARY_MARKER}
You write an after-visit summary for the patient from their clinician's signed note
inside <note>. The patient reads it at home.
Format, strictly, with nothing before or after:
Why you came in:
- bullet
What we found:
- bullet
What to do next:
- bullet
Rules:
- Plain language at a 6th to 8th grade reading level: short sentences, everyday words,
  "you" for the patient; explain a medical word the first time you use it.
- Use only what the note says. Do NOT add a drug, dose, number, frequency, body side,
  allergy, diagnosis, test or instruction that the note does not contain; keep every
  drug name, dose, frequency and side exactly as the note writes it.
- Leave out anything the note does not say rather than guessing; if a section has
  nothing, write "- Nothing to add."
- No names, record numbers or dates of birth."""


def build_summary_messages(sections: dict[str, list[str]], addenda: Sequence[str]) -> list[Message]:
    """The signed note (its four sections and any addenda) as the summary request."""
    lines = []
    for name in SOAP_SECTIONS:
        lines.append(f"{name}:")
        lines.extend(f"- {item}" for item in sections.get(name.lower()) or [])
    for text in addenda:
        lines.append("Addendum:")
        lines.append(f"- {text}")
    body = "\n".join(lines)
    return [
        {"role": "system", "content": SUMMARY_SYSTEM_PROMPT},
        {"role": "user", "content": f"<note>\n{body}\n</note>"},
    ]


SOAP_SECTIONS = ("Subjective", "Objective", "Assessment", "Plan")
NOT_DISCUSSED = "Not discussed."

Message = dict[str, str]


def build_edit_messages(
    turn_text: str,
    *,
    context: Sequence[str] = (),
    keyterms: Sequence[str] = (),
) -> list[Message]:
    """Messages for editing one turn; ``context`` are earlier turns (oldest first)."""
    return _edit_messages(
        EDIT_SYSTEM_PROMPT, f"<turn>\n{turn_text}\n</turn>", context=context, keyterms=keyterms
    )


def build_edit_batch_messages(
    turn_texts: Sequence[str],
    *,
    context: Sequence[str] = (),
    keyterms: Sequence[str] = (),
) -> list[Message]:
    """Messages editing several consecutive turns of one encounter in one request."""
    turns = "\n".join(f'<turn n="{i}">{text}</turn>' for i, text in enumerate(turn_texts))
    return _edit_messages(EDIT_BATCH_SYSTEM_PROMPT, turns, context=context, keyterms=keyterms)


def _edit_messages(
    system: str, turns: str, *, context: Sequence[str], keyterms: Sequence[str]
) -> list[Message]:
    """The system prompt, then one user message: keyterms, earlier turns, the turn(s)."""
    parts: list[str] = []
    if keyterms:
        parts.append(f"Keyterms: {json.dumps(list(keyterms))}")
    if context:
        parts.append("<context>\n" + "\n".join(context) + "\n</context>")
    parts.append(turns)
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


_BATCH_TURN = re.compile(r'<turn n="(\d+)">(.*?)</turn>', re.DOTALL)


def parse_edit_batch_reply(reply: str, expected: int) -> list[str] | None:
    """Split a batch reply back into turns; None when it does not have exactly the turns."""
    found = _BATCH_TURN.findall(reply)
    if len(found) != expected:
        return None
    texts: list[str] = []
    for i, (n, text) in enumerate(found):
        if int(n) != i:
            return None
        texts.append(text.strip())
    return texts
