"""The meaning checks: does a statement say what the visit said, not just the same words?

A statement's concept contradicts the visit when no turn that names it agrees on both who
it is about (patient / family) and whether it is so (affirmed / denied). A drug's action
contradicts the visit when every action said for that drug leaves the patient on it and
the statement takes them off (or the reverse). A plan that starts or continues a drug the
patient said they are allergic to is flagged whatever was said about the drug.
Explanations quote what was said ("said: no chest pain"): they are shown to clinicians
and stored with the note, never logged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shared.evidence.actions import TAKING, DrugAction, drug_actions, prescribed
from shared.evidence.allergy import OTHER_PERSON, AllergyReader
from shared.evidence.assertion import Assertion, Mention, mentions, pronoun_status, sentences
from shared.evidence.check import Finding, Severity
from shared.evidence.frequency import Dosing, DosingReader, compare, statement_dosings
from shared.evidence.polarity import open_flips
from shared.evidence.sides import SideMention, parts_named, side_mentions
from shared.evidence.terms import Term, claims

FREQUENCY_CHANGED = "changed by the frequency"
# Habits where "current" and "former" are different facts (a past heart attack is not).
TEMPORAL = frozenset({"smoking", "alcohol", "drug use"})
# A bare answer to a question that named concepts: "No." / "Yeah, a little."
_FILLER = r"^\W*(?:(?:uh|um|uhm|hmm|well|oh|so|honestly|actually|you know)\W+)*"
_NO = re.compile(
    _FILLER + r"(no|nope|nah|not really|not at all|not lately|not recently|not anymore|"
    r"not that i(?: know| am aware|'m aware| recall| remember|'ve noticed| noticed| can think)|"
    r"(?:absolutely|definitely|certainly) not|never|none|nothing|negative|no way|"
    r"i (?:don't|do not|haven't|have not|hadn't|didn't|did not|wouldn't say|can't say)|"
    r"haven't|have not|don't think so)\b"
)
_YES = re.compile(
    _FILLER + r"(yes|yeah|yep|yup|uh-huh|mm-hmm|i do|i have|i did|i'm having|sometimes|"
    r"a little|a bit|occasionally|once in a while|every now and then|definitely|absolutely|"
    r"correct|sure|(?:only |just )?(?:socially|on occasion|on (?:the )?weekends?)|"
    # a yes with a qualifier: "Only when I climb stairs.", "On and off.", "All the time."
    r"(?:(?:it's|it is|that's) )?(?:only|just|mostly|mainly) (?:when|if|at|in|with|after|"
    r"during|on|around|before|a little|a bit|sometimes|occasionally)|i think so|i guess so|"
    r"here and there|on and off|off and on|from time to time|at times|now and then)\b"
)
# Words that answer yes only as a short answer: "Every day." / "Lately, yeah."; at the
# start of a longer turn they may be about something else ("Lately I've been tired").
_YES_SHORT = re.compile(
    _FILLER + r"(all the time|constantly|every day|daily|a lot|kind of|sort of|lately|"
    r"recently)\b"
)
_SHORT_WORDS = 5
# A turn written with its speaker ("Patient: No.", "[doctor] any fever?") is read without
# the label: a question or a bare answer is recognized at the start of what was said.
_ROLES = (
    r"(?:doctor|dr\.?|physician|clinician|provider|nurse|np|pa|patient|pt|mother|father|mom|"
    r"dad|parent|caregiver|guardian|interpreter|spouse|wife|husband|partner|daughter|son|"
    r"speaker\s*[a-z0-9]{1,3})"
)
_SPEAKER = re.compile(rf"^\s*(?:\[{_ROLES}\]\s*:?|{_ROLES}\s*:)\s*", re.IGNORECASE)


def without_speaker(text: str) -> str:
    return _SPEAKER.sub("", text, count=1)


@dataclass(frozen=True)
class Said:
    seq: int
    mention: Mention


@dataclass
class VisitMeaning:
    """What the turns of a visit said: concepts, drug actions, allergies."""

    concepts: dict[str, list[Said]] = field(default_factory=dict)
    actions: dict[str, list[tuple[int, DrugAction]]] = field(default_factory=dict)
    allergies: dict[str, str] = field(default_factory=dict)
    # How often each drug (generic) / dose ((unit, value)) was said to be taken.
    by_drug: dict[str, list[Dosing]] = field(default_factory=dict)
    by_dose: dict[tuple[str, str], list[Dosing]] = field(default_factory=dict)
    # Sides said per part (region), and every part named (with a side or not).
    sides: dict[str, list[SideMention]] = field(default_factory=dict)
    parts: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, turns: Sequence[tuple[int, str]]) -> VisitMeaning:
        turns = [(seq, without_speaker(text)) for seq, text in turns]
        visit = cls()
        asked: list[Mention] = []  # the previous turn's questions
        before: list[Mention] = []  # the previous turn's concepts, asked or said
        dosing = DosingReader()
        allergy = AllergyReader()
        measured: dict[str, list[Said]] = {}  # findings read from measured vital signs
        for seq, text in turns:
            by_sentence = [(sentence, mentions(sentence)) for sentence in sentences(text)]
            found = tuple(m for _, said in by_sentence for m in said)
            names = {m.concept for m in found}
            for m in _answers(asked, text, names):
                visit.concepts.setdefault(m.concept, []).append(Said(seq, m))
            answered, open_questions = _answered_within(by_sentence)
            for m in answered:
                visit.concepts.setdefault(m.concept, []).append(Said(seq, m))
            for m in found:
                if m.assertion != "asked":
                    visit.concepts.setdefault(m.concept, []).append(Said(seq, m))
            for m in _carried_status(before, text, names):
                visit.concepts.setdefault(m.concept, []).append(Said(seq, m))
            if not OTHER_PERSON.search(text.lower()):
                for m in _measured_findings(text, names):
                    measured.setdefault(m.concept, []).append(Said(seq, m))
            asked = open_questions
            before = list(found)
            for action in drug_actions(text):
                visit.actions.setdefault(action.drug, []).append((seq, action))
            allergy.read(text)
            for d in dosing.read(text):
                if d.drug is not None:
                    visit.by_drug.setdefault(d.drug, []).append(d)
                for dose in d.doses:
                    visit.by_dose.setdefault(dose, []).append(d)
        for concept, readings in measured.items():
            if len({said.mention.assertion for said in readings}) == 1:
                # Readings that disagree ("101 last week", "98.4 today") say nothing for sure.
                visit.concepts.setdefault(concept, []).extend(readings)
        visit.allergies = allergy.found
        lines = "\n".join(text.replace("\n", " ") for _, text in turns)
        for side in side_mentions(lines):
            visit.sides.setdefault(side.part, []).append(side)
        visit.parts = parts_named(lines)
        return visit


def _answered_within(
    by_sentence: list[tuple[str, tuple[Mention, ...]]],
) -> tuple[list[Mention], list[Mention]]:
    """Questions a turn answers itself, and those left for the next turn. Speech
    recognition ends a turn at a pause, not at a change of speaker, so "Any fever? No.
    Any cough?" may be one turn: the fever is denied there, only the cough is left open."""
    answered: list[Mention] = []
    pending: list[Mention] = []
    for sentence, said in by_sentence:
        # Only a short answer: a longer sentence after a question is more likely the
        # asker going on ("Any fever? Sometimes that comes with the flu.").
        if pending and not sentence.rstrip().endswith("?") and len(sentence.split()) <= 5:
            got = _answers(pending, sentence, {m.concept for m in said})
            if got:
                answered += got
                pending = []
        pending += [m for m in said if m.yes_no]
    return answered, pending


def _answers(asked: list[Mention], text: str, named: set[str]) -> list[Mention]:
    """ "Any fever?" / "No." is a denial of fever in the answer's turn."""
    if not asked:
        return []
    low = text.lower()
    if _NO.search(low):
        assertion = "negated"
    elif _YES.search(low) or (len(low.split()) <= _SHORT_WORDS and _YES_SHORT.search(low)):
        assertion = "present"
    else:
        return []
    return [
        Mention(m.concept, m.text, assertion, m.experiencer)  # type: ignore[arg-type]
        for m in asked
        if m.concept not in named
    ]


# A measured vital sign says whether a finding named after it is there: a note's
# "Afebrile." is checked against "your temperature is 101.2", "Not tachycardic." against
# "heart rate 118", "Hypoxic." against "oxygen 98 percent". Only where the turn names no
# such finding itself (its words then say whose and when), and never in the band around a
# threshold where clinicians differ (a heart rate of 98 is neither).
@dataclass(frozen=True)
class _Threshold:
    concept: str
    vital: str  # the ``claims`` vital key
    plausible: tuple[float, float]  # a reading outside is another number (or another unit)
    present: Callable[[float], bool]
    absent: Callable[[float], bool]


_THRESHOLDS: tuple[_Threshold, ...] = (
    _Threshold("fever", "temperature", (95.0, 108.0), lambda v: v >= 100.4, lambda v: v < 100.4),
    _Threshold("fever", "temperature", (35.0, 42.0), lambda v: v >= 38.0, lambda v: v < 38.0),
    _Threshold("tachycardia", "heart rate", (30, 250), lambda v: v > 100, lambda v: v <= 95),
    _Threshold("bradycardia", "heart rate", (20, 250), lambda v: v < 60, lambda v: v >= 65),
    _Threshold("hypoxia", "oxygen saturation", (50, 100), lambda v: v < 90, lambda v: v >= 95),
    _Threshold("tachypnea", "respiratory rate", (4, 70), lambda v: v > 20, lambda v: v <= 18),
    _Threshold("hypotension", "blood pressure", (40, 260), lambda v: v < 90, lambda v: v >= 100),
)
_VITAL_WORD = re.compile(
    r"\b(?:temperature|temp|fever of|heart rate|pulse|hr|oxygen|o2|sat|sats|saturation|spo2|"
    r"respiratory rate|respirations|blood pressure|bp)\b",
    re.IGNORECASE,
)


def _measured_findings(text: str, named: set[str]) -> list[Mention]:
    """What the turn's one reading of each vital sign says of the findings named after it
    (present or negated); none for a vital the turn reads twice or near another bare number
    that could be that vital ("101 last week, 98.4 today": which is now?)."""
    if not _VITAL_WORD.search(text):  # most turns: no reading, no term parse
        return []
    terms = claims(text)
    bare = {float(v) for t in terms if t.kind == "number" for v in t.values if _is_float(v)}
    found: list[Mention] = []
    for rule in _THRESHOLDS:
        readings = [t for t in terms if t.kind == "vital" and _reads(t, rule.vital)]
        low, high = rule.plausible
        # A spoken reading may have several values ("one twenty" is 120 or 21): the one
        # that can be this vital sign; "120/80" is read by its systolic.
        values = {float(v) for t in readings for v in (x.split("/")[0] for x in t.values)}
        values = {v for v in values if low <= v <= high}
        if rule.concept in named or len(readings) != 1 or len(values) != 1:
            continue
        if any(low <= v <= high for v in bare):
            continue
        value = values.pop()
        status: Assertion | None = (
            "present" if rule.present(value) else "negated" if rule.absent(value) else None
        )
        if status is not None:
            shown = readings[0].text
            shown = shown if shown.startswith(rule.vital) else f"{rule.vital} {shown}"
            found.append(Mention(rule.concept, shown, status, "patient", reading=shown))
    return found


def _reads(term: Term, vital: str) -> bool:
    """A vital-sign term reads ``vital`` (a blood pressure is written "120/80", no key)."""
    if vital == "blood pressure":
        return any("/" in v for v in term.values)
    return term.key == vital and bool(term.values)


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _carried_status(before: list[Mention], text: str, named: set[str]) -> list[Mention]:
    """ "How's the cough?" / "It's still there.": a turn that names no concept and says a
    status of "it" says it of the one concept the turn before named."""
    concepts = {m.concept for m in before if m.experiencer == "patient"}
    if named or len(concepts) != 1:
        return []
    status = pronoun_status(text)
    if status is None:
        return []
    m = next(m for m in before if m.experiencer == "patient")
    assertion: Assertion = "historical" if status == "resolved" else "present"
    return [Mention(m.concept, m.text, assertion, "patient", status=status)]


def _polarity(m: Mention) -> str:
    if m.assertion in ("present", "historical"):
        return "yes"
    if m.assertion == "negated":
        return "no"
    return "maybe"


# A statement told in the past ("Had a cough.") agrees with a problem that resolved.
_PAST = re.compile(
    r"\b(had|was|were|experienced|developed|suffered|previously|prior|ago|earlier|"
    r"last (?:week|month|year|night)|history of|since resolved)\b"
)


def _concept_finding(m: Mention, said: list[Said], past: bool = False) -> Finding | None:
    same_who = [s.mention for s in said if s.mention.experiencer == m.experiencer]
    if not same_who:
        return Finding("experiencer", "high", m.text, f"said: {said[0].mention.said()}")
    if m.course in ("better", "worse"):
        # "Cough is worsening." against "the cough is getting better" (or the reverse), and
        # "Cough is improving." against "the cough is no better".
        others = {"better": {"worse", "no better"}, "worse": {"better", "no worse"}}[m.course]
        courses = {s.course for s in same_who}
        if others & courses and m.course not in courses:
            shown = next(s for s in same_who if s.course in others)
            return Finding("temporality", "high", m.text, f"said: {shown.said()}")
    if m.status is not None:
        # "Cough resolved" against "still there" (or the reverse), whoever said it last.
        other = "ongoing" if m.status == "resolved" else "resolved"
        statuses = {s.status for s in same_who}
        if other in statuses and m.status not in statuses:
            shown = next(s for s in same_who if s.status == other)
            return Finding("negation", "high", m.text, f"said: {shown.said()}")
        if m.status == "resolved":
            return None  # had it, and has it no more: agrees with both "had" and "no"
    # A resolved problem says neither that it is so now nor that it never was.
    current = [s for s in same_who if s.status != "resolved"]
    note = _polarity(m)
    if not current:
        if note == "yes" and m.assertion == "present" and not past:
            # "Reports cough." where it went away: a reviewer should look.
            return Finding("negation", "medium", m.text, f"said: {same_who[0].said()}")
        return None
    same_who = current
    if note == "maybe":
        return None  # a hedged statement claims nothing to contradict
    pols = {_polarity(s) for s in same_who}
    if note in pols:
        if m.concept in TEMPORAL and note == "yes":
            return _temporal(m, [s for s in same_who if _polarity(s) == "yes"])
        return None
    if note == "yes" and "no" in pols:
        denied = next(s for s in same_who if _polarity(s) == "no")
        return Finding("negation", "high", m.text, f"said: {denied.said()}")
    if note == "yes":  # said only as possible / hypothetical
        return Finding("negation", "medium", m.text, f"said: {same_who[0].said()}")
    if "yes" in pols:  # the statement denies what was affirmed
        affirmed = next(s for s in same_who if _polarity(s) == "yes")
        return Finding("negation", "high", m.text, f"said: {affirmed.said()}")
    # Denied where it was only suspected or conditional: a reviewer should look.
    return Finding("negation", "medium", m.text, f"said: {same_who[0].said()}")


def _temporal(m: Mention, affirmed: list[Mention]) -> Finding | None:
    past = {s.assertion == "historical" for s in affirmed}
    if (m.assertion == "historical") in past:
        return None
    return Finding("temporality", "high", m.text, f"said: {affirmed[0].said()}")


def _action_findings(text: str, visit: VisitMeaning, plan: bool) -> list[Finding]:
    out: list[Finding] = []
    for act in drug_actions(text):
        said = [a for _, a in visit.actions.get(act.drug, [])]
        if said and all(TAKING[a.action] != TAKING[act.action] for a in said):
            out.append(Finding("action", "high", act.drug, f"said: {said[-1].text}"))
        allergen = visit.allergies.get(act.drug)
        if plan and allergen and TAKING[act.action]:
            out.append(Finding("allergy", "high", act.drug, f"allergy: {allergen}"))
    for act in prescribed(text) if plan and visit.allergies else []:
        allergen = visit.allergies.get(act.drug)
        if allergen:
            out.append(Finding("allergy", "high", act.drug, f"allergy: {allergen}"))
    return out


def _frequency_findings(text: str, visit: VisitMeaning) -> list[Finding]:
    """A frequency that changes how much of a drug is taken a day: "98 mg once daily" where
    the visit said "98 mg twice a day". Compared per drug, else per dose, with every
    frequency said for it (a visit that changed the frequency said both)."""
    out: list[Finding] = []
    for d in statement_dosings(text):
        said = visit.by_drug.get(d.drug, []) if d.drug else []
        if not said:
            said = [s for dose in d.doses for s in visit.by_dose.get(dose, [])]
        if not said:
            continue
        matches = [compare(d.frequency, s.frequency) for s in said]
        if "same" in matches:
            continue
        severity: Severity = "high" if "prn" not in matches else "medium"
        shown = said[matches.index("prn")] if severity == "medium" else said[-1]
        rule = f"{FREQUENCY_CHANGED} (said: {shown.shown})"
        out.append(Finding("dose", severity, d.frequency.text, rule))
    return out


def _side_findings(text: str, visit: VisitMeaning) -> list[Finding]:
    """A side the visit never gave for that part: "left ear" where only the right ear was
    said (wherever in the visit), or a side for a part said without one. A finding is held
    against the sides said of findings, not against a side called normal ("right TM
    bulging; the left one looks normal" does not support "left otitis media")."""
    out: list[Finding] = []
    for m in side_mentions(text):
        said = visit.sides.get(m.part, [])
        if not said:
            if m.part in visit.parts and m.part != "side":
                rule = f"not said for the {m.part}"
                out.append(Finding("laterality", "high", m.shown, rule))
            continue
        relevant = [s for s in said if not s.normal] if not m.normal else said
        sides = {s.side for s in relevant or said}
        if m.side in sides or (m.side == "bilateral" and {"left", "right"} <= sides):
            continue
        shown = ", ".join(sorted(f"{side} {m.part}" for side in sides))
        severity: Severity = "medium" if "bilateral" in sides else "high"
        rule = f"differs from the visit (said: {shown})"
        out.append(Finding("laterality", severity, m.shown, rule))
    return out


def meaning_findings(text: str, visit: VisitMeaning, section: str | None = None) -> list[Finding]:
    """Findings of ``text`` against the visit: negation, experiencer, temporality (concepts),
    action and allergy (drugs; allergy only for the plan, or any text when ``section`` is
    None)."""
    found: list[Finding] = []
    seen: set[str] = set()
    past = bool(_PAST.search(text.lower()))
    for m in mentions(text):
        said = visit.concepts.get(m.concept)
        if m.assertion == "asked" or not said or m.concept in seen:
            continue
        finding = _concept_finding(m, said, past)
        if finding is not None:
            seen.add(m.concept)
            found.append(finding)
    found.extend(_action_findings(text, visit, section in (None, "plan")))
    found.extend(_frequency_findings(text, visit))
    found.extend(_side_findings(text, visit))
    return found


_FLIPS = {"negation": "flipped_negation", "experiencer": "flipped_negation",
          "action": "flipped_action", "dose": "changed_frequency",
          "temporality": "flipped_temporality"}  # fmt: skip


def edit_flips(source: str, candidate: str) -> list[str]:
    """Reason codes for an edit of one turn that changes what it says: ``flipped_negation``
    (a concept or any word denied/affirmed, or moved to another person), ``flipped_action``
    (a drug started/stopped the other way), ``flipped_direction`` (more/less, better/
    worse), ``flipped_temporality`` (a habit given up made current, or the reverse),
    ``changed_frequency`` (another number of doses a day, or a frequency nobody said) and
    ``changed_timing`` (morning/night, before/after) (``shared.evidence.polarity``)."""
    said = VisitMeaning.of([(0, source)])
    codes = {_FLIPS[f.kind] for f in meaning_findings(candidate, said, "edit") if f.kind in _FLIPS}
    return sorted(codes | open_flips(source, candidate))
