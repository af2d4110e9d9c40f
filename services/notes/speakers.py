"""Speaker roles: which STT speaker label is the clinician and which the patient.

Order of authority: roles already stored on the encounter (set by the clinician through
the API, or decided earlier), then the clinic's fixed mapping (config; it names the first
STT session's labels, since every later session labels from "A" again), then a simple,
explainable heuristic, applied within each STT session. The heuristic only ever runs on
turns already stored; it reads their text but nothing of it leaves this module.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.speaker_labels import split_label

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


def _rank(turns: Sequence[SpokenTurn], scores: Mapping[str, float]) -> dict[str, str]:
    """Among the speakers of ``turns``: the most clinician-like is the clinician, the most
    talkative other the patient, anyone else other."""
    mine = {t.speaker for t in turns if t.speaker is not None and t.speaker in scores}
    if not mine:
        return {}
    ranked = sorted(mine, key=lambda label: (-scores[label], label))
    roles = {ranked[0]: CLINICIAN}
    if len(ranked) > 1:
        talk: dict[str, int] = defaultdict(int)
        for t in turns:
            if t.speaker is not None and t.speaker in mine and t.speaker != ranked[0]:
                talk[t.speaker] += len(t.text)
        patient = max(talk, key=lambda label: (talk[label], label))
        for label in ranked[1:]:
            roles[label] = PATIENT if label == patient else OTHER
    return roles


def _nearest(label: str, scores: Mapping[str, float], known: Mapping[str, str]) -> str:
    """The role whose speakers (in other sessions) score most like ``label``."""
    by_role: dict[str, list[float]] = defaultdict(list)
    for other, role in known.items():
        if role in (CLINICIAN, PATIENT) and other in scores:
            by_role[role].append(scores[other])
    if not by_role.get(CLINICIAN) or not by_role.get(PATIENT):
        return CLINICIAN if scores[label] > 0 else PATIENT
    clinician = sum(by_role[CLINICIAN]) / len(by_role[CLINICIAN])
    patient = sum(by_role[PATIENT]) / len(by_role[PATIENT])
    return CLINICIAN if abs(scores[label] - clinician) <= abs(scores[label] - patient) else PATIENT


def guess_roles(turns: Sequence[SpokenTurn]) -> dict[str, str]:
    """Roles per speaker label, decided within each STT session.

    Labels are per session (shared/speaker_labels.py: "A" in the first, "2:A" in the
    second), and the service labels from "A" again in each, so a session's speakers are
    ranked among themselves: its most clinician-like is its clinician. A session in which
    only one speaker was heard (a short one after a reconnect) takes the role of the
    speakers of other sessions whose cues it resembles most.
    """
    scores = _scores(turns)
    if not scores:
        return {}
    sessions: dict[int, list[SpokenTurn]] = defaultdict(list)
    for t in turns:
        if t.speaker in scores:
            sessions[split_label(t.speaker)[0]].append(t)
    lone = {n: g[0].speaker for n, g in sessions.items() if len({t.speaker for t in g}) == 1}
    if len(lone) == len(sessions):  # nobody to rank within a session: rank them all
        return _rank(turns, scores)
    roles: dict[str, str] = {}
    for n, group in sorted(sessions.items()):
        if n not in lone:
            roles.update(_rank(group, scores))
    for label in lone.values():
        assert label is not None
        roles[label] = _nearest(label, scores, roles)
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
