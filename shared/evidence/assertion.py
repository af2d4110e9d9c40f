"""Assertion of clinical concepts: present, negated, possible, hypothetical, historical or
asked, and who it is about (the patient, or family/another person).

medspaCy's ConText (NegEx's successor; rules only, no downloaded model) reads each sentence
that names a concept of ``concepts``. The pipeline is built once per process (the services
build it at start, ``shared.evidence.warm``; anything else on first use); sentences are
cached, so a note check re-reads only what it has not read before.
ConText's sentence splitter (PyRuSH) logs every token through loguru at DEBUG: it is not
used (spaCy's rule sentencizer is), and loguru is disabled for both packages before they
are imported, so no transcript text can reach a log.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from shared.evidence.concepts import (
    CANONICAL,
    NEGATED_FORMS,
    NEGATING_NAMES,
    PATTERN,
    expand,
    other_sense,
)

Assertion = Literal["present", "negated", "possible", "hypothetical", "historical", "asked"]
Experiencer = Literal["patient", "family"]
# Where a problem stands: gone ("the cough has resolved") or still there ("persists").
Status = Literal["resolved", "ongoing"]
# Its course: getting better or worse ("the cough is improving", "worsening headaches").
# "no better" / "no worse": a denied course, which a note's "improving" / "worsening" contradicts.
Course = Literal["better", "worse", "no better", "no worse"]

# A question about having something: "any ...", "do you have ...", "have you had ...".
_YES_NO = re.compile(
    r"^\W*(?:(?:and|so|okay|ok|um|uh|now|also|and any)\W+)*(?:any|anything like|do you (?:have|get|"
    r"ever|still|feel|notice)|have you (?:had|been|noticed|ever|got)|are you (?:having|still|"
    r"getting|feeling)|did you (?:have|get|notice|feel|ever)|is there|was there|ever|no|"
    r"does (?:it|he|she|anyone)|has (?:he|she|anyone)|you have|you've had|you had)\b"
)
# Sentences: split on end punctuation (kept), so "No fever. Has cough." is two.
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_CACHE = 16384

# Additions to ConText's default rules, for how patients and clinicians talk.
_EXTRA_RULES: tuple[tuple[str, str, str], ...] = (
    ("never", "NEGATED_EXISTENCE", "FORWARD"),
    ("denies", "NEGATED_EXISTENCE", "FORWARD"),
    ("denied", "NEGATED_EXISTENCE", "FORWARD"),
    ("don't have", "NEGATED_EXISTENCE", "FORWARD"),
    ("do not have", "NEGATED_EXISTENCE", "FORWARD"),
    ("haven't had", "NEGATED_EXISTENCE", "FORWARD"),
    ("have not had", "NEGATED_EXISTENCE", "FORWARD"),
    ("hasn't had", "NEGATED_EXISTENCE", "FORWARD"),
    ("didn't have", "NEGATED_EXISTENCE", "FORWARD"),
    ("not had", "NEGATED_EXISTENCE", "FORWARD"),
    ("not have", "NEGATED_EXISTENCE", "FORWARD"),
    ("not any", "NEGATED_EXISTENCE", "FORWARD"),
    ("none", "NEGATED_EXISTENCE", "BACKWARD"),
    ("is gone", "NEGATED_EXISTENCE", "BACKWARD"),
    # How notes deny after the finding: "chest pain: absent", "fever is denied".
    ("absent", "NEGATED_EXISTENCE", "BACKWARD"),
    ("is denied", "NEGATED_EXISTENCE", "BACKWARD"),
    ("was denied", "NEGATED_EXISTENCE", "BACKWARD"),
    ("are denied", "NEGATED_EXISTENCE", "BACKWARD"),
    ("not present", "NEGATED_EXISTENCE", "BACKWARD"),
    ("went away", "NEGATED_EXISTENCE", "BACKWARD"),
    ("former", "HISTORICAL", "FORWARD"),
    ("formerly", "HISTORICAL", "FORWARD"),
    ("ex-", "HISTORICAL", "FORWARD"),
    ("quit", "HISTORICAL", "FORWARD"),
    ("stopped", "HISTORICAL", "FORWARD"),
    ("used to", "HISTORICAL", "FORWARD"),
    ("years ago", "HISTORICAL", "BACKWARD"),
    ("in the past", "HISTORICAL", "BIDIRECTIONAL"),
    ("previous", "HISTORICAL", "FORWARD"),
    ("prior", "HISTORICAL", "FORWARD"),
    ("status post", "HISTORICAL", "FORWARD"),  # "s/p MI"
    ("may have", "POSSIBLE_EXISTENCE", "FORWARD"),
    ("maybe", "POSSIBLE_EXISTENCE", "FORWARD"),
    ("probable", "POSSIBLE_EXISTENCE", "FORWARD"),
    ("probably", "POSSIBLE_EXISTENCE", "FORWARD"),
    ("likely", "POSSIBLE_EXISTENCE", "FORWARD"),
    ("could be", "POSSIBLE_EXISTENCE", "FORWARD"),
    ("suspect", "POSSIBLE_EXISTENCE", "FORWARD"),
    ("in case", "HYPOTHETICAL", "FORWARD"),
    ("watch for", "HYPOTHETICAL", "FORWARD"),
    ("call if", "HYPOTHETICAL", "FORWARD"),
    # Advice about what might come: "be aware of ... diarrhea", "look out for a fever".
    ("aware of", "HYPOTHETICAL", "FORWARD"),
    ("look out for", "HYPOTHETICAL", "FORWARD"),
    ("watch out for", "HYPOTHETICAL", "FORWARD"),
    ("keep an eye out for", "HYPOTHETICAL", "FORWARD"),
    ("monitor for", "HYPOTHETICAL", "FORWARD"),
    ("let me know if", "HYPOTHETICAL", "FORWARD"),
    ("let us know if", "HYPOTHETICAL", "FORWARD"),
    ("call me if", "HYPOTHETICAL", "FORWARD"),
    ("come back if", "HYPOTHETICAL", "FORWARD"),
    ("return if", "HYPOTHETICAL", "FORWARD"),
    ("seek care if", "HYPOTHETICAL", "FORWARD"),
    # A new clause of the speaker's own ends a denial ("no, I have chest pain", "no fever
    # I have a cough"): said without punctuation, as speech recognition often writes it.
    ("i have", "TERMINATE", "TERMINATE"),
    ("i've got", "TERMINATE", "TERMINATE"),
    ("i'm having", "TERMINATE", "TERMINATE"),
    ("i do have", "TERMINATE", "TERMINATE"),
    ("positive for", "TERMINATE", "TERMINATE"),
    ("reports", "TERMINATE", "TERMINATE"),
    ("endorses", "TERMINATE", "TERMINATE"),
    ("complains of", "TERMINATE", "TERMINATE"),
    ("however", "TERMINATE", "TERMINATE"),
    ("although", "TERMINATE", "TERMINATE"),
    ("though", "TERMINATE", "TERMINATE"),
    ("except", "TERMINATE", "TERMINATE"),
    ("just", "TERMINATE", "TERMINATE"),
    ("only", "TERMINATE", "TERMINATE"),
    ("wife", "FAMILY", "BIDIRECTIONAL"),
    ("husband", "FAMILY", "BIDIRECTIONAL"),
    ("partner", "FAMILY", "BIDIRECTIONAL"),
    ("spouse", "FAMILY", "BIDIRECTIONAL"),
    ("friend", "FAMILY", "BIDIRECTIONAL"),
    ("coworker", "FAMILY", "BIDIRECTIONAL"),
    ("roommate", "FAMILY", "BIDIRECTIONAL"),
    ("grandfather", "FAMILY", "BIDIRECTIONAL"),
    ("grandmother", "FAMILY", "BIDIRECTIONAL"),
    ("uncle", "FAMILY", "BIDIRECTIONAL"),
    ("aunt", "FAMILY", "BIDIRECTIONAL"),
    ("cousin", "FAMILY", "BIDIRECTIONAL"),
    ("son", "FAMILY", "BIDIRECTIONAL"),
    ("daughter", "FAMILY", "BIDIRECTIONAL"),
    ("kids", "FAMILY", "BIDIRECTIONAL"),
    ("children", "FAMILY", "BIDIRECTIONAL"),
    ("runs in", "FAMILY", "BACKWARD"),
)
_NOT = {"LOWER": {"IN": ["not", "n't"]}}
_CAN = {"LOWER": {"IN": ["ca", "can", "could", "wo", "will", "would"]}}
_DO = {"LOWER": {"IN": ["do", "does", "did"]}}
_WORD = {"IS_ALPHA": True}
# Negation words that deny nothing: "can't stop coughing", "can't shake this cough", "I've
# never been so tired", "no matter what I do", "no relief", "can't walk without pain",
# "nothing but headaches", "wouldn't say no". (ConText's PSEUDO: the longer phrase wins
# over the negation inside it, and modifies nothing.)
_PSEUDO: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    ("can't stop", [_CAN, _NOT, {"LOWER": {"IN": ["stop", "shake", "quit", "kick", "lose",
                                                 "control", "help"]}}]),
    ("can't get rid of", [_CAN, _NOT, {"LOWER": "get"}, {"LOWER": {"IN": ["rid", "over"]}}]),
    ("can't ... without", [_CAN, _NOT, {**_WORD, "OP": "{1,5}"}, {"LOWER": "without"}]),
    # ("can't recall a fever" is a denial: not here)
    ("can't believe", [_CAN, _NOT, {"LOWER": {"IN": ["believe", "stand", "take", "bear",
                                                    "tolerate"]}}]),
    ("won't stop", [{"LOWER": {"IN": ["wo", "will", "does", "do", "did", "would"]}}, _NOT,
                    {"LOWER": {"IN": ["stop", "quit", "ease", "settle", "budge"]}}]),
    ("never been so", [{"LOWER": "never"}, {"LOWER": {"IN": ["been", "felt", "had", "seen"]}},
                       {"LOWER": {"IN": ["so", "this", "that", "such", "as", "more", "worse"]}}]),
    ("never stops", [{"LOWER": "never"}, {"LOWER": {"IN": ["stops", "ends", "quits", "lets",
                                                          "eases", "ending", "-"]}}]),
    ("no matter", [{"LOWER": "no"}, {"LOWER": {"IN": ["matter", "doubt", "relief", "change",
                                                     "improvement", "difference", "end"]}}]),
    ("not only", [_NOT, {"LOWER": {"IN": ["only", "just", "getting", "improving", "improved",
                                         "helping", "helped", "better", "going"]}}]),
    ("doesn't help", [_DO, _NOT, {"LOWER": {"IN": ["help", "helps", "work", "improve"]}}]),
    ("nothing but", [{"LOWER": "nothing"}, {"LOWER": {"IN": ["but", "helps", "helped",
                                                         "works", "worked"]}}]),
    ("wouldn't say no", [_CAN, _NOT, {"LOWER": "say"}, {"LOWER": "no"}]),
)  # fmt: skip
# Not knowing is not denying: "I don't know if it's a fever", "not sure whether".
_UNSURE: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    ("don't know if", [_DO, _NOT, {"LOWER": {"IN": ["know", "think"]}},
                       {"LOWER": {"IN": ["if", "whether"]}}]),
    ("not sure if", [_NOT, {"LOWER": {"IN": ["sure", "certain"]}},
                     {"LOWER": {"IN": ["if", "whether", "it", "it's", "that"]}}]),
    ("unsure if", [{"LOWER": {"IN": ["unsure", "uncertain", "wonder", "wondering"]}},
                   {"LOWER": {"IN": ["if", "whether"]}}]),
)  # fmt: skip
_CLAUSE_VERBS = (
    "has", "have", "had", "is", "was", "drinks", "takes", "uses", "reports", "endorses",
    "complains", "notes", "positive", "but", "does", "still", "admits", "describes",
    "states", "with", "experiences", "experiencing",
)  # fmt: skip
# A clause that says its own finding ("chest pain present", "cough noted", "persistent
# cough") is read apart from the clause before it: "Ruled out pneumonia, chest pain
# present." A clause that continues a list ("no fever, chills or night sweats present")
# is not one.
_OWN_FINDING = re.compile(
    r"\b(present|noted|reported|endorsed|endorses|confirmed|observed|appreciated|identified|"
    r"persists|persisting|persistent|remains|continues|ongoing|worsening)\b"
)
_LIST_GOES_ON = re.compile(r"^\s*(?:or|and|nor)\b|\b(?:or|nor)\b")
_CLAUSE_MARK = re.compile(r"[,;]")


@dataclass(frozen=True)
class Mention:
    """One concept named in a text: canonical ``concept``, as written (``text``)."""

    concept: str
    text: str
    assertion: Assertion
    experiencer: Experiencer
    # Asked in a yes/no question about having it ("Any fever?", "Do you have chest
    # pain?"), whose bare answer ("No.") says whether it is so.
    yes_no: bool = False
    status: Status | None = None
    # Read from a measured vital sign ("heart rate 72"), shown with what it says.
    reading: str | None = None
    course: Course | None = None

    @property
    def affirmed(self) -> bool:
        """Said to be (or to have been) so."""
        return self.assertion in ("present", "historical")

    def said(self) -> str:
        """How it was said, for the console: "no chest pain", "family: heart attack"."""
        prefix = {
            "negated": "no ", "possible": "possible ", "hypothetical": "if ",
            "historical": "past ", "asked": "asked about ", "present": "",
        }[self.assertion]  # fmt: skip
        who = "family: " if self.experiencer == "family" else ""
        if self.status is not None and self.assertion not in ("asked", "hypothetical"):
            prefix = f"{self.status} "
        if self.reading is not None:
            return f"{self.reading} ({who}{prefix}{self.concept})"
        if self.course is not None:
            course = self.course if self.course.startswith("no ") else f"getting {self.course}"
            return f"{who}{prefix}{self.concept}, {course}"
        return f"{who}{prefix}{self.concept}"


def _silence_loguru() -> None:
    try:
        from loguru import logger
    except ImportError:  # loguru comes with medspaCy's PyRuSH; absent, nothing logs
        return
    for package in ("PyRuSH", "medspacy", "PyFastNER", "quicksectx"):
        logger.disable(package)


_PRESENT_AFTER_COMMA = (
    "a", "an", "some", "mild", "slight", "occasional", "still", "lots", "plenty", "moderate",
    "severe", "intermittent", "constant", "new",
)  # fmt: skip


_BUILT: list[Any] = []
_BUILDING = threading.Lock()  # a note arriving during the start-up build waits for it


def pipeline() -> Any:
    """spaCy tokenizer + rule sentencizer + ConText; built once per process."""
    if not _BUILT:
        with _BUILDING:
            if not _BUILT:
                _BUILT.append(_build())
    return _BUILT[0]


def _build() -> Any:
    _silence_loguru()
    import medspacy
    from medspacy.context import ConTextRule

    nlp = medspacy.load(medspacy_enable=["medspacy_context"])
    nlp.add_pipe("sentencizer", first=True)
    context = nlp.get_pipe("medspacy_context")
    context.add([ConTextRule(lit, cat, direction=d) for lit, cat, d in _EXTRA_RULES])
    context.add([ConTextRule(lit, "PSEUDO", pattern=pat, direction="PSEUDO")
                 for lit, pat in _PSEUDO])  # fmt: skip
    context.add([ConTextRule(name, "PSEUDO", direction="PSEUDO") for name in NEGATING_NAMES])
    context.add([ConTextRule(lit, "POSSIBLE_EXISTENCE", pattern=pat, direction="FORWARD")
                 for lit, pat in _UNSURE])  # fmt: skip
    # "no fever, has a cough": a comma before a new verb ends a denial's scope.
    clause = [{"LOWER": ","}, {"LOWER": {"IN": list(_CLAUSE_VERBS)}}]
    context.add([ConTextRule(", <verb>", "TERMINATE", pattern=clause, direction="TERMINATE")])
    # "no fever, a little wheezing": a comma before an article or an amount starts what is
    # present (a list of denials runs without them: "no fever, chills or cough").
    present = [{"LOWER": ","}, {"LOWER": {"IN": list(_PRESENT_AFTER_COMMA)}}]
    context.add([ConTextRule(", <amount>", "TERMINATE", pattern=present, direction="TERMINATE")])
    # "Chest pain ruled out." ends a sentence: it denies what came before (ConText's own
    # "ruled out" looks ahead, "ruled out pneumonia"; the longer match wins).
    ruled_out = [{"LOWER": {"IN": ["ruled", "excluded"]}}, {"LOWER": "out", "OP": "?"},
                 {"IS_PUNCT": True}]  # fmt: skip
    context.add([ConTextRule("ruled out.", "NEGATED_EXISTENCE", pattern=ruled_out,
                             direction="BACKWARD")])  # fmt: skip
    # "Chest pain denied, ..." at a clause's end denies what came before.
    denied = [{"LOWER": {"IN": ["denied", "negative"]}}, {"IS_PUNCT": True}]
    context.add([ConTextRule("denied.", "NEGATED_EXISTENCE", pattern=denied,
                             direction="BACKWARD")])  # fmt: skip
    return nlp


def _assertion(span: Any) -> Assertion:
    ext = span._
    if ext.is_negated:
        return "negated"
    if ext.is_hypothetical:
        return "hypothetical"
    if ext.is_uncertain:
        return "possible"
    if ext.is_historical:
        return "historical"
    return "present"


@lru_cache(maxsize=_CACHE)
def read_spans(
    sentence: str, spans: tuple[tuple[int, int], ...]
) -> tuple[tuple[Assertion, Experiencer] | None, ...]:
    """Assertion and experiencer of each (start, end) character span of ``sentence``
    (lower case); None for a span that does not fall on word boundaries or overlaps an
    earlier one."""
    if not spans:
        return ()
    nlp = pipeline()
    doc = nlp.make_doc(sentence)
    ents: list[Any] = []
    index: list[int | None] = []
    for start, end in spans:
        span = doc.char_span(start, end, label="CONCEPT", alignment_mode="expand")
        if span is None or any(span.start < e.end and e.start < span.end for e in ents):
            index.append(None)
            continue
        index.append(len(ents))
        ents.append(span)
    doc.ents = ents
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    asked = sentence.rstrip().endswith("?")
    read: dict[tuple[int, int], tuple[Assertion, Experiencer]] = {}
    for ent in doc.ents:
        assertion: Assertion = "asked" if asked else _assertion(ent)
        read[(ent.start, ent.end)] = (assertion, "family" if ent._.is_family else "patient")
    keys = [(e.start, e.end) for e in ents]
    return tuple(None if i is None else read.get(keys[i]) for i in index)


_TURNED: dict[Assertion, Assertion] = {"present": "negated", "negated": "present"}


# Contractions written without the apostrophe ("dont", as some transcripts do), so the
# rules that know "don't" read them.
_BARE = re.compile(r"\b(do|does|did|ca|wo|is|was|are|were|have|has|had|could|should|would)(nt)\b")
_BARE_ANY_CASE = re.compile(_BARE.pattern, re.I)


# Status words, read after a concept (up to the next concept, a few words: "I had a cough
# but it went away") or just before it ("still have the cough", "resolved pneumonia").
# Denied resolutions ("hasn't gone away") are ongoing; "I went away", "I stopped" are no
# status of anything. Habits have their own past/current reading (``meaning.TEMPORAL``).
# After the concept, predicates only: an adjective there belongs to the next noun ("no
# shortness of breath, just a lingering cough").
_NOT_GONE = (
    r"(?:won't|will not|doesn't|does not|didn't|did not|never)(?: \w+)? (?:go|went) away|"
    r"(?:hasn't|has not|haven't|have not|not|never)(?: \w+)? (?:gone|resolved|cleared|went)"
    r"(?: away| up)?|(?:hasn't|has not|haven't|have not|isn't|is not|not) (?:gotten |getting |"
    r"been )?(?:any )?better|no better|"
    # "any better" only follows a negation or a question: "I don't think it's any better"
    r"(?:is|are|'s|'re|was|were|gotten|got|getting|feel|feels|feeling) any better"
)
_ONGOING_AFTER = re.compile(
    r"\b(persists?|persist|persisted|persisting|continues?|continued|remains?|remained|"
    r"lingers?|keeps? coming back|(?:is|are|'s|'re|has been|have been) (?:still|ongoing|"
    r"persistent|lingering|continuing|unresolved)|still (?:there|present|here|going|bothering|"
    r"bad|hurts|hurting|happening|around|the same|do|does|have it|has it|with me)|came back|"
    r"comes? back|coming back|(?:is|are|'s|'re) back|returned|(?:has|have) been going on|"
    r"(?:is|are|'s|'re) going on|" + _NOT_GONE + r")\b"
)
_NOT_GONE_AT = re.compile(_NOT_GONE)
_RESOLVED_AFTER = re.compile(
    r"\b(resolved|went away|gone away|(?:is|are|'s|'re|has|have|all|now)(?: been| \w+ly)? gone|"
    r"gone now|"
    r"no longer (?:there|present|an issue|a problem|bothering)|(?:isn't|aren't|is not|are not|"
    r"not) (?:there|a problem|an issue) any ?more|"
    r"cleared(?: up)?|subsided|healed|disappeared|stopped(?! (?:me|him|her|us|you|taking))|"
    r"no longer present|is over|ceased|abated|broke(?! out| my| his| her| the))\b"
)
_ONGOING_BEFORE = re.compile(
    r"\b(still|persistent|ongoing|continued|continuing|unresolved|lingering|residual)\b"
    r"(?:\W+\w+){0,3}\W*$"
)
_RESOLVED_BEFORE = re.compile(
    r"\b(resolved|resolution of|no longer|no more|recovered from|got over|gotten over)\b"
    r"(?:\W+\w+){0,3}\W*$"
)
_BEFORE_CUES: tuple[tuple[re.Pattern[str], Status], ...] = (
    (_ONGOING_BEFORE, "ongoing"), (_RESOLVED_BEFORE, "resolved"),
)  # fmt: skip
# "I didn't have a fever until last night": denied only before it began.
_UNTIL = re.compile(r"\W+(?:\w+\W+){0,2}?until\b(?! (?:it|you|the|we|i|your)\b)")
# A bare "no" ending the sentence right after the last finding denies it: "diarrhea no".
_TRAILING_NO = re.compile(r"[\s,:?-]+(?:\w+\s+)?no\W*$")
_PERSON_BEFORE = re.compile(r"\b(?:i|i've|we|you|he|she)\s+(?:\w+\s+)?$")
_STATUS_REACH = 8  # words after a concept
# "I don't smoke anymore", "no longer drinks": a habit given up, read as "quit" is.
_GIVEN_UP = re.compile(r"\b(?:any ?more|no longer)\b")
_HABITS = frozenset({"smoking", "alcohol", "drug use"})
_NO_STATUS = _HABITS | {"allergy", "pregnancy"}


# Past a clause's end a status word is another clause's, unless "it" carries it over ("I had
# a cough but it went away").
_NEW_CLAUSE = re.compile(r"[,;]|\b(?:but|and|though|although|so)\b")
_CARRIED = re.compile(
    r"\b(?:it|it's|that|that's|they|they're|which|this|those)\b(?:\W+\w+){0,2}\W*$"
)


# "Cough: resolved.", "cough, now resolved": a note's item and its status.
_SAME_ITEM = re.compile(
    r"^[\s,;:-]*(?:(?:now|since|then|all|completely|finally|fully|has|have|had|is|are|was|"
    r"been)\s+)*$"
)


# "much better but still there": the subject left out after "but" is the same one.
_ELIDED = re.compile(r"\b(?:but|and|yet)\s*$")


def _cue(pattern: re.Pattern[str], after: str) -> re.Match[str] | None:
    m = pattern.search(after)
    if m is None:
        return None
    gap = after[: m.start()]
    if (
        _SAME_ITEM.match(gap)
        or not _NEW_CLAUSE.search(gap)
        or _CARRIED.search(gap)
        or _ELIDED.search(gap)
    ):
        return m  # "Cough: resolved.", "cough, now resolved"
    return None


def _status(after: str, before: str) -> tuple[Status | None, bool]:
    """The status said of a concept, and whether it was a denied going ("hasn't gone
    away", which ConText reads as a denial of the concept itself)."""
    after = " ".join(after.split()[:_STATUS_REACH])
    ongoing, resolved = _cue(_ONGOING_AFTER, after), _cue(_RESOLVED_AFTER, after)
    if ongoing and (resolved is None or ongoing.start() <= resolved.start()):
        return "ongoing", bool(_NOT_GONE_AT.match(ongoing.group(1)))
    if resolved and not _PERSON_BEFORE.search(after[: resolved.start()]):
        return "resolved", False
    for pattern, status in _BEFORE_CUES:
        m = pattern.search(before)
        if m and not _NEW_CLAUSE.search(before[m.end(1) :]):
            return status, False
    return None, False


# A course word after the concept ("the cough is getting better", "headaches are
# worsening") or just before it ("worsening cough", "less coughing"); not a condition
# ("worse at night", "better with rest": what makes it so, not where it is going) and not
# denied ("no better", "not getting worse").
_CONDITION = (
    r"(?!\s+(?:with|at|when|in|on|after|before|during|if|while|lying|sitting|standing|"
    r"walking|bending|eating|exercise|activity|movement))"
)
_BETTER_AFTER = re.compile(
    r"\b(better|improv(?:ed|ing|es)|eas(?:ed|ing)(?: up)?|went down|gone down|going down|"
    r"come down|came down|decreas(?:ed|ing)|calm(?:ed|ing) down|settl(?:ed|ing) down|"
    r"less (?:frequent|often|severe|intense|bad))\b" + _CONDITION
)
_WORSE_AFTER = re.compile(
    r"\b(worse|worsen(?:ed|ing|s)?|spread(?:ing|s)?|increas(?:ed|ing)|more (?:frequent|often|"
    r"severe|intense)|progress(?:ed|ing)|escalat(?:ed|ing)|getting bad|flar(?:ed|ing) up)\b"
    + _CONDITION
)
_COURSE_BEFORE: tuple[tuple[re.Pattern[str], Course], ...] = (
    (re.compile(r"\b(worsening|increasing|progressive|escalating|spreading)\W+(?:\w+\W+)?$"),
     "worse"),
    (re.compile(r"\b(improving|improved|decreasing|resolving|less)\W+(?:\w+\W+)?$"), "better"),
)  # fmt: skip
_DENIED_BEFORE = re.compile(
    r"\b(?:no|not|n't|never|isn't|hasn't|haven't|aren't|doesn't|don't|didn't|wasn't|any)"
    r"(?:\s+\w+){0,2}\s*$"
)


def _course(after: str, before: str) -> Course | None:
    """The course said of a concept: better, worse, or None (none said, or both)."""
    after = " ".join(after.split()[:_STATUS_REACH])
    found: set[Course] = set()
    cues: tuple[tuple[re.Pattern[str], Course, Course], ...] = (
        (_BETTER_AFTER, "better", "no better"), (_WORSE_AFTER, "worse", "no worse"),
    )  # fmt: skip
    for pattern, course, denied in cues:
        m = _cue(pattern, after)
        if m is not None:
            found.add(denied if _DENIED_BEFORE.search(after[: m.start()]) else course)
    for pattern, course in _COURSE_BEFORE:
        m = pattern.search(before)
        if m and not _NEW_CLAUSE.search(before[m.end(1) :]):
            found.add(course)
    return found.pop() if len(found) == 1 else None


_PRONOUN_SUBJECT = re.compile(r"\b(?:it|it's|that|that's|they|they're|those)\b")
_STILL_HAVE_IT = re.compile(
    r"\bstill (?:have|has|got|get|getting|having|feel|feeling) (?:it|them|that)\b"
)
_NOT_ANYMORE = re.compile(
    r"\b(?:don't|do not|doesn't|does not|no longer) (?:have|get|got|feel) (?:it|them|that)\b"
    r"(?: any ?more)?"
)


def pronoun_status(text: str) -> Status | None:
    """The status a turn that names no concept says of "it": "It's still there." (after
    "How's the cough?"), "They went away.", "I don't have it anymore." One status only."""
    found: set[Status] = set()
    for sentence in sentences(text.lower()):
        if _STILL_HAVE_IT.search(sentence):
            found.add("ongoing")
        if _NOT_ANYMORE.search(sentence) and "more" in sentence:
            found.add("resolved")
        for m in _PRONOUN_SUBJECT.finditer(sentence):
            status, _ = _status(sentence[m.end() :], "")
            if status is not None:
                found.add(status)
                break
    return found.pop() if len(found) == 1 else None


def _own_finding(clause: str) -> bool:
    return bool(_OWN_FINDING.search(clause)) and not _LIST_GOES_ON.search(clause)


def _clauses(low: str) -> list[tuple[int, int]]:
    """(start, end) of the parts of a sentence read apart: cut at a comma or semicolon
    when the clause after or before it says its own finding."""
    cuts = [m.start() for m in _CLAUSE_MARK.finditer(low)]
    edges = [0, *cuts, len(low)]
    parts = [(edges[i] + (i > 0), edges[i + 1]) for i in range(len(edges) - 1)]
    out: list[tuple[int, int]] = []
    start = 0
    for i, cut in enumerate(cuts):
        before, after = parts[i], parts[i + 1]
        if _own_finding(low[after[0] : after[1]]) or _own_finding(low[before[0] : before[1]]):
            out.append((start, cut + 1))
            start = cut + 1
    out.append((start, len(low)))
    return out


def _read_clauses(
    low: str, spans: list[tuple[int, int]]
) -> tuple[tuple[Assertion, Experiencer] | None, ...]:
    """Assertion of each span read in its clause (``_clauses``); who it is about read in the
    whole sentence ("my mother has diabetes, hypertension noted": still the mother's)."""
    whole = read_spans(low, tuple(spans))
    clauses = _clauses(low)
    if len(clauses) == 1:
        return whole
    read: list[tuple[Assertion, Experiencer] | None] = list(whole)
    for lo, hi in clauses:
        inside = [i for i, (a, b) in enumerate(spans) if lo <= a and b <= hi]
        if not inside:
            continue
        got = read_spans(low[lo:hi], tuple((spans[i][0] - lo, spans[i][1] - lo) for i in inside))
        for i, r in zip(inside, got, strict=True):
            w = whole[i]
            if r is not None and w is not None:
                read[i] = (r[0], "family" if "family" in (r[1], w[1]) else "patient")
    return tuple(read)


def _sentence_mentions(sentence: str) -> tuple[Mention, ...]:
    low, short = expand(_BARE_ANY_CASE.sub(lambda m: f"{m.group(1)}n't", sentence))
    found = [
        (m.start(1), m.end(1), m.group(1))
        for m in PATTERN.finditer(low)
        if not other_sense(low, m.start(1), m.end(1))
    ]
    read = _read_clauses(low, [(a, b) for a, b, _ in found])
    yes_no = bool(_YES_NO.match(low)) or len(low.split()) <= 4
    out: list[Mention] = []
    for i, ((start, end, text), r) in enumerate(zip(found, read, strict=True)):
        if r is None:
            continue
        assertion = _TURNED.get(r[0], r[0]) if text in NEGATED_FORMS else r[0]
        status: Status | None = None
        if CANONICAL[text] not in _NO_STATUS and assertion in ("present", "negated", "historical"):
            upto = found[i + 1][0] if i + 1 < len(found) else len(low)
            since = found[i - 1][1] if i else 0
            status, not_gone = _status(low[end:upto], low[since:start])
            if status == "ongoing" and assertion == "negated":
                # "never went away" denies the going, not the cough; "still no fever" is
                # a denial
                assertion, status = ("present", status) if not_gone else (assertion, None)
        if assertion == "negated" and _UNTIL.match(low, end):
            assertion = "present"  # "no fever until yesterday": there is one now
        elif assertion == "present" and _TRAILING_NO.match(low, end):
            assertion = "negated"  # "diarrhea no", "fever? no"
        if status == "resolved":
            assertion = "historical"  # it was so, and is no more
        elif CANONICAL[text] in _HABITS and assertion == "negated" and _GIVEN_UP.search(low):
            assertion = "historical"
        course: Course | None = None
        if CANONICAL[text] not in _NO_STATUS and assertion == "present":
            upto = found[i + 1][0] if i + 1 < len(found) else len(low)
            since = found[i - 1][1] if i else 0
            course = _course(low[end:upto], low[since:start])
        # An abbreviation is shown as written ("cp"), its words are what was read.
        shown = next((w for a, b, w in short if a <= start < b), text)
        asked = yes_no and r[0] == "asked"
        out.append(Mention(CANONICAL[text], shown, assertion, r[1], asked, status, course=course))
    return tuple(out)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``."""
    return [m.span() for m in _SENTENCE.finditer(text) if m.group(0).strip()]


def mentions(text: str) -> tuple[Mention, ...]:
    """Every concept of ``text`` with its assertion and experiencer, in reading order."""
    out: list[Mention] = []
    for sentence in sentences(text):
        out.extend(_sentence_mentions(sentence))
    return tuple(out)
