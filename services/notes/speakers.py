"""Speaker roles: which STT speaker label is the clinician and which the patient.

Order of authority: roles already stored on the encounter (set by the clinician through
the API, or decided earlier), then the clinic's fixed mapping (config), then a simple,
explainable heuristic. The heuristic only ever runs on turns already stored; it reads
their text but nothing of it leaves this module.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CLINICIAN = "clinician"
PATIENT = "patient"
OTHER = "other"
ROLE_NAMES = {CLINICIAN: "Clinician", PATIENT: "Patient", OTHER: "Other"}

# Phrases typical of the clinician's side of a visit: questions about symptoms, exam
# instructions, prescriptions and plans.
_CLINICIAN_CUES = re.compile(
    r"\b(how (are|have) you|any (pain|fever|allergies|questions)|on a scale|take a deep "
    r"breath|let me (examine|listen|take a look)|i('m| am) going to (prescribe|order|refer|start)|"
    r"i (recommend|would like|want you to)|prescrib\w*|refer\w*|follow[- ]up|physical exam\w*|"
    r"blood pressure|lab\w*|mg\b|milligrams?|twice (a|per) day|once (a|per) day|assessment|"
    r"diagnos\w*|let's|we('ll| will) (start|check|get|order))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SpokenTurn:
    speaker: str | None
    text: str


def _scores(turns: Sequence[SpokenTurn]) -> dict[str, float]:
    questions: dict[str, int] = defaultdict(int)
    cues: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    for t in turns:
        if not t.speaker or t.speaker.upper() == "UNKNOWN":
            continue
        count[t.speaker] += 1
        questions[t.speaker] += t.text.count("?")
        cues[t.speaker] += len(_CLINICIAN_CUES.findall(t.text))
    first = next((t.speaker for t in turns if t.speaker and t.speaker.upper() != "UNKNOWN"), None)
    return {
        label: (2 * questions[label] + cues[label]) / n + (0.25 if label == first else 0.0)
        for label, n in count.items()
    }


def guess_roles(turns: Sequence[SpokenTurn]) -> dict[str, str]:
    """Most clinician-like speaker → clinician, the most talkative other → patient."""
    scores = _scores(turns)
    if not scores:
        return {}
    ranked = sorted(scores, key=lambda label: (-scores[label], label))
    roles = {ranked[0]: CLINICIAN}
    if len(ranked) > 1:
        talk: dict[str, int] = defaultdict(int)
        for t in turns:
            if t.speaker in scores and t.speaker != ranked[0]:
                talk[t.speaker] += len(t.text)
        patient = max(talk, key=lambda label: (talk[label], label))
        for label in ranked[1:]:
            roles[label] = PATIENT if label == patient else OTHER
    return roles


def resolve_roles(
    turns: Sequence[SpokenTurn],
    stored: Mapping[str, str] | None,
    configured: Mapping[str, str],
) -> dict[str, str]:
    """Roles for every speaker label in ``turns`` (stored beats configured beats guessed)."""
    labels = {t.speaker for t in turns if t.speaker and t.speaker.upper() != "UNKNOWN"}
    if not labels:
        return dict(stored or {})
    roles = dict(guess_roles(turns))
    roles.update({k: v for k, v in configured.items() if k in labels})
    roles.update(stored or {})
    return roles


def display_name(speaker: str | None, roles: Mapping[str, str]) -> str:
    """How a turn's speaker is written in transcripts and prompts."""
    if not speaker or speaker.upper() == "UNKNOWN":
        return "Speaker"
    role = roles.get(speaker)
    if role is None:
        return f"Speaker {speaker}"
    return ROLE_NAMES.get(role, role.title())
