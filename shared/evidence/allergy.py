"""The drugs a patient said they are allergic to, however it was said.

Read clause by clause (split at sentence ends, commas and semicolons), turn after turn:
- named: "I'm allergic to penicillin", "a sulfa allergy", "I had a reaction to cephalexin";
- by a reaction, with the drug in the clause or referred to ("it", "that", "those"):
  "Penicillin. It gives me hives.", "I can't take that, it makes me swell", "when I took
  Celebrex my face swelled up" -- "it" is the drug named last in this turn or the two
  before (the question "Have you ever taken codeine?" names it);
- the answer to an allergy question: "Any drug allergies?" / "Just sulfa."
A clause that denies ("it doesn't give me a rash"), is about someone else ("my wife is
allergic to penicillin") or tells of a drug helping ("it made the rash go away") is no
allergy. An allergy to a class reaches its members (penicillin -> amoxicillin), and one to
a drug the drugs it cross-reacts with (codeine -> morphine, ibuprofen -> naproxen).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shared.evidence.lexicon import BRAND_GENERIC, DRUG_NAMES

# Families whose members cross-react: an allergy to one member is held against the others,
# as a class named by the patient is. Generic names (brands reach them via BRAND_GENERIC).
# Left out on purpose, as a reviewer would not expect a flag: celecoxib (COX-2 selective,
# usually tolerated in NSAID allergy), tramadol / fentanyl / methadone (not morphine-like,
# low cross-reactivity with codeine or morphine), penicillin <-> cephalosporins (low
# cross-reactivity), statins (an intolerance to one is managed by trying another).
PENICILLINS = frozenset({"penicillin", "amoxicillin", "ampicillin", "dicloxacillin",
                        "piperacillin", "nafcillin"})  # fmt: skip
CEPHALOSPORINS = frozenset({"cephalexin", "cefdinir", "cefuroxime", "cefadroxil", "cefazolin",
                            "ceftriaxone", "cefpodoxime"})  # fmt: skip
SULFONAMIDES = frozenset({"sulfamethoxazole"})  # sulfa antibiotics, not furosemide or HCTZ
NSAIDS = frozenset({"aspirin", "ibuprofen", "naproxen", "meloxicam", "diclofenac",
                    "ketorolac", "indomethacin"})  # fmt: skip
OPIATES = frozenset({"morphine", "codeine", "hydrocodone", "oxycodone", "hydromorphone"})
QUINOLONES = frozenset({"ciprofloxacin", "levofloxacin", "moxifloxacin"})
MACROLIDES = frozenset({"azithromycin", "clarithromycin", "erythromycin"})
TETRACYCLINES = frozenset({"doxycycline", "minocycline", "tetracycline"})
# Angioedema from one ACE inhibitor is a class effect.
ACE_INHIBITORS = frozenset({"lisinopril", "enalapril", "ramipril", "benazepril", "quinapril",
                            "captopril"})  # fmt: skip
CROSS_REACTIVE: tuple[frozenset[str], ...] = (
    PENICILLINS, CEPHALOSPORINS, SULFONAMIDES, NSAIDS, OPIATES, QUINOLONES, MACROLIDES,
    TETRACYCLINES, ACE_INHIBITORS,
)  # fmt: skip

# An allergy to a class reaches its members.
ALLERGY_CLASS: dict[str, frozenset[str]] = {
    "penicillin": PENICILLINS, "penicillins": PENICILLINS,
    "sulfa": SULFONAMIDES, "sulfas": SULFONAMIDES, "sulfonamides": SULFONAMIDES,
    "sulfonamide": SULFONAMIDES,
    "nsaids": NSAIDS, "nsaid": NSAIDS,
    "opioids": OPIATES | {"tramadol", "fentanyl", "methadone"},
    "opiates": OPIATES,
    "narcotics": OPIATES | {"tramadol", "fentanyl", "methadone"},
    "statins": frozenset({"atorvastatin", "simvastatin", "rosuvastatin", "pravastatin"}),
    "cephalosporins": CEPHALOSPORINS, "cephalosporin": CEPHALOSPORINS,
    "quinolones": QUINOLONES, "fluoroquinolones": QUINOLONES,
    "tetracyclines": TETRACYCLINES, "macrolides": MACROLIDES,
}  # fmt: skip
_FAMILY: dict[str, frozenset[str]] = {drug: family for family in CROSS_REACTIVE for drug in family}

_CLAUSE = re.compile(r"[^.!?\n,;]+[.!?]*")
_WORD = re.compile(r"[a-z]+")
_NAMED_BEFORE = re.compile(r"(allergic|allergy|allergies|reaction|react)\b[^.;]{0,25}$")
_NAMED_AFTER = re.compile(r"^\W{0,2}(allergy|allergies)\b")
_NAMED_PRONOUN = re.compile(
    r"\b(?:allergic|allergy|reaction|react)\s+(?:to|with|from)\s+(?:it|that|this|them|those)\b"
)
_NEGATED = re.compile(
    r"\b(not|no|never|didn't|doesn't|don't|isn't|wasn't|without|nkda|none|fine with|"
    r"tolerates?|tolerated)\b"
)
# "my husband can't take it", "my wife's temperature": about someone else (meaning.py too).
OTHER_PERSON = re.compile(
    r"\b(?:my|his|her|their|your)\s+(?:wife|husband|partner|mother|mom|father|dad|son|"
    r"daughter|sister|brother|kids?|child|children|baby|friend|grandmother|grandfather)\b"
)
_THIRD_PERSON = re.compile(r"^\W*(?:and |but |so )?(he|she|they)\b")
# "hives from strawberries": the cause is named, and it is no drug.
_FROM = re.compile(r"\bfrom (?:the |my |some )?([a-z]+)")
_HELPED = re.compile(r"\b(go away|went away|better|clear\w*|help\w*|improv\w*|resolv\w*)\b")
# Reactions that name an allergy on their own: the drug is the one this turn talks about.
_STRONG = re.compile(
    r"\b(hives|broke out|break out|breaking out|swelled up|swell up|swells up|anaphyla\w*|"
    r"throat (?:was |is |started |kept )?(?:closed|closes|closing|gets tight|got tight|"
    r"swelled|swelling)|couldn't breathe|could not breathe)\b"
)
# Reactions that need a cause in the clause: "it gives me a rash", "made my lips swell".
_REACTION = re.compile(r"\b(rash\w*|itch\w*|swell\w*|swollen|welts|blisters?|red all over)\b")
# Swelling of the legs is a side effect (amlodipine's ankles), not an allergy.
_DEPENDENT = re.compile(r"\b(ankles?|legs?|feet|foot|calf|calves)\b")
# "I'm allergic." after the drug was named.
_ALLERGIC_BARE = re.compile(r"\b(?:i'm|i am|i was|i've been)\s+(?:\w+\s+)?allergic\s*[.!]*$")
_CAUSE = re.compile(r"\b(give|gives|gave|make|makes|made|cause|causes|caused|from)\b")
# A turn without any of these says no allergy (it may still name the drug "it" refers to).
_TELLS = re.compile(
    r"allerg|react|hives|rash|itch|swell|swollen|welts|blister|broke out|break out|anaphyla|"
    r"throat|breathe|red all over"
)
_PRONOUN = re.compile(r"\b(it|that|this|those|them|that one|the stuff)\b")
_ASKED = re.compile(r"\ballerg")
_NO_ANSWER = re.compile(r"^\W*(no|nope|nah|not|none|never|i don't|i do not|negative|nkda)\b")
_CARRY_TURNS = 2


def _drug_words(clause: str) -> list[str]:
    return [w for w in _WORD.findall(clause) if w in DRUG_NAMES or w in ALLERGY_CLASS]


def _members(word: str) -> dict[str, str]:
    """Generic name of each drug ``word`` (a drug, a brand or a class) covers -> ``word``:
    a class its members, a drug itself and the drugs it cross-reacts with."""
    covered = ALLERGY_CLASS.get(word)
    if covered is None:
        drug = BRAND_GENERIC.get(word, word)
        covered = _FAMILY.get(drug, frozenset()) | {drug}
    return {BRAND_GENERIC.get(m, m): word for m in covered}


def _named(clause: str) -> list[str]:
    """Drugs named as allergens: "allergic to penicillin", "sulfa allergy"."""
    out = []
    for m in _WORD.finditer(clause):
        word = m.group(0)
        if word not in DRUG_NAMES and word not in ALLERGY_CLASS:
            continue
        if _NAMED_BEFORE.search(clause[: m.start()]) or _NAMED_AFTER.search(clause[m.end() :]):
            out.append(word)
    return out


@dataclass
class AllergyReader:
    """Reads the turns of a visit in order; ``found`` maps drug (generic) -> allergen."""

    found: dict[str, str] = field(default_factory=dict)
    _topic: str | None = None  # the drug "it" refers to
    _age: int = 0  # turns since the topic was named
    _asked: bool = False  # the previous turn asked about allergies

    def read(self, text: str) -> dict[str, str]:
        """Reads one turn; returns the allergies it said (also added to ``found``)."""
        self._age += 1
        if self._age > _CARRY_TURNS:
            self._topic = None
        low = text.lower()
        said: dict[str, str] = {}
        clauses: list[tuple[str, bool]] = []  # (clause, its sentence names another cause)
        for sentence in re.findall(r"[^.!?\n]+[.!?]*", low):
            if OTHER_PERSON.search(sentence):  # "my husband can't take it, he gets hives"
                continue
            other = any(
                not _drug_words(m.group(1)) and not _PRONOUN.fullmatch(m.group(1))
                for m in _FROM.finditer(sentence)
            )
            clauses += [(c.strip(), other) for c in _CLAUSE.findall(sentence) if c.strip()]
        if self._asked and clauses and not _NO_ANSWER.search(clauses[0][0]):
            for word in _drug_words(clauses[0][0]):  # "Any allergies?" / "Just sulfa."
                said.update(_members(word))
        this_turn: str | None = None
        telling = _TELLS.search(low) is not None  # most turns say nothing of the kind
        for clause, other_cause in clauses:
            named = _drug_words(clause)
            if other_cause and not named and not _named(clause):
                continue  # "hives once as a kid, from strawberries"
            for word in self._allergens(clause, named, this_turn) if telling else []:
                said.update(_members(word))
            if named:
                this_turn = named[-1]
                self._topic, self._age = named[-1], 0
            elif _PRONOUN.search(clause) and self._topic is not None:
                this_turn = self._topic
        self._asked = bool(_ASKED.search(low)) and "?" in low
        for drug, allergen in said.items():
            self.found.setdefault(drug, allergen)
        return said

    def _allergens(self, clause: str, named: list[str], this_turn: str | None) -> list[str]:
        if _NEGATED.search(clause) or _HELPED.search(clause) or _THIRD_PERSON.search(clause):
            return []
        direct = _named(clause)
        if direct:
            return direct
        pronoun = _PRONOUN.search(clause) is not None
        referred = named or ([self._topic] if pronoun and self._topic else [])
        if (_NAMED_PRONOUN.search(clause) or _ALLERGIC_BARE.search(clause)) and self._topic:
            return [self._topic]
        if _STRONG.search(clause):
            if referred:
                return referred
            # "We tried you on lisinopril?" / "Yes, and my tongue swelled up."
            about = this_turn or (self._topic if self._age <= 1 else None)
            return [about] if about else []
        if _REACTION.search(clause) and _CAUSE.search(clause) and not _DEPENDENT.search(clause):
            return referred
        return []


def allergies(text: str) -> dict[str, str]:
    """Drug (generic, or a member of an allergy class) -> the allergen as said, in one
    text read alone."""
    return AllergyReader().read(text)
