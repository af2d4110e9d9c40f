"""The SOAP prompt of AssemblyAI's real-time medical scribe guide, plus what chunking needs.

The system and user texts are the guide's (clinician persona, bullets, "do NOT invent
data", medications with dose and frequency, strict four-section format). Added: speaker
roles when known, the retry message that names what was wrong, and the two prompts of
long visits (summarise one part; merge the parts) that the guide lacked — it sent the
whole buffer and silently overflowed.
"""

from __future__ import annotations

from collections.abc import Sequence

Message = dict[str, str]

SOAP_SYSTEM_PROMPT = (
    "You are a clinician generating concise, structured notes. "
    "Produce a SOAP note (Subjective, Objective, Assessment, Plan). "
    "Use bullet points, keep it factual, infer reasonable clinical semantics "
    "from the transcript but do NOT invent data. Include medications with dosage "
    "and frequency if mentioned."
)

FORMAT_SPEC = "Subjective:\n- ...\n\nObjective:\n- ...\n\nAssessment:\n- ...\n\nPlan:\n- ...\n"

_STRICT = (
    "Format strictly as:\n" + FORMAT_SPEC + "\nWrite nothing before Subjective: or after the "
    "Plan bullets. Leave a section without bullets if the transcript has nothing for it."
)


def _roles_hint(has_roles: bool) -> str:
    if not has_roles:
        return ""
    return "Lines are labelled Clinician or Patient by speaker.\n\n"


def soap_messages(transcript: str, *, has_roles: bool = False) -> list[Message]:
    """The guide's request: whole transcript in, four-section note out."""
    return [
        {"role": "system", "content": SOAP_SYSTEM_PROMPT},
        {
            "role": "user",
            "content": "Create a SOAP note from this clinical encounter transcript.\n\n"
            + _roles_hint(has_roles)
            + f"Transcript:\n{transcript}\n\n"
            + _STRICT,
        },
    ]


def part_messages(transcript: str, part: int, parts: int, *, has_roles: bool) -> list[Message]:
    """One section of a long visit, written as a partial SOAP note to be merged later."""
    return [
        {"role": "system", "content": SOAP_SYSTEM_PROMPT},
        {
            "role": "user",
            "content": f"This is part {part} of {parts} of a long clinical encounter transcript. "
            "Create a SOAP note of this part only; keep every finding, medication (with dose "
            "and frequency), result and plan item it mentions, because the parts are merged "
            "afterwards.\n\n" + _roles_hint(has_roles) + f"Transcript part {part}/{parts}:\n"
            f"{transcript}\n\n" + _STRICT,
        },
    ]


def merge_messages(partial_notes: Sequence[str]) -> list[Message]:
    """Merge the partial notes of a long visit into one note, losing no item."""
    joined = "\n\n".join(
        f"Partial note {i}/{len(partial_notes)}:\n{note}" for i, note in enumerate(partial_notes, 1)
    )
    return [
        {"role": "system", "content": SOAP_SYSTEM_PROMPT},
        {
            "role": "user",
            "content": "These partial SOAP notes cover consecutive parts of one clinical "
            "encounter. Merge them into one SOAP note: remove repetitions, keep every distinct "
            "finding, medication (with dose and frequency), assessment and plan item, and do "
            "NOT invent data.\n\n" + joined + "\n\n" + _STRICT,
        },
    ]


def retry_messages(previous: Sequence[Message], reply: str, problem: str) -> list[Message]:
    """Ask again, naming the problem (the problem text is ours, never transcript content)."""
    return [
        *previous,
        {"role": "assistant", "content": reply},
        {
            "role": "user",
            "content": f"Your reply did not follow the required format: {problem}. "
            "Reply again with only the four sections, in order, each followed by its bullet "
            "points.\n\n" + _STRICT,
        },
    ]
