"""Clinical concepts whose assertion (said present, denied, ...) is checked.

Stricter than the problem groups of ``lexicon``: those are generous on purpose (a note's
"hypertension" rests on "my blood pressure"), but "no weight loss" must not deny obesity
and "blood pressure is fine" must not assert hypertension. Each group is one concept,
first name canonical; lower case; plural and spoken variants listed.
"""

from __future__ import annotations

import re

CONCEPT_GROUPS: tuple[tuple[str, ...], ...] = (
    # Symptoms
    ("fever", "fevers", "febrile", "feverish"), ("chills",), ("night sweats",),
    ("chest pain", "chest pains", "chest discomfort", "chest tightness"),
    ("shortness of breath", "short of breath", "sob", "dyspnea", "trouble breathing",
     "difficulty breathing"),
    ("cough", "coughing"), ("wheezing", "wheeze"), ("sore throat",),
    ("congestion", "stuffy nose", "runny nose"),
    ("headache", "headaches"), ("dizziness", "dizzy", "lightheaded", "lightheadedness"),
    ("fainting", "syncope", "passed out", "passing out"),
    ("palpitations", "heart racing"), ("nausea", "nauseous", "nauseated"),
    ("vomiting", "throwing up", "threw up", "vomited"), ("diarrhea",), ("constipation",),
    ("abdominal pain", "stomach pain", "belly pain", "stomach ache"),
    ("blood in the stool", "blood in stool", "rectal bleeding", "bloody stools"),
    ("blood in the urine", "hematuria"),
    ("burning with urination", "dysuria", "pain with urination"),
    ("fatigue", "tired", "tiredness", "exhausted"), ("weakness",),
    ("numbness", "numb"), ("tingling",), ("swelling", "swollen", "edema"),
    ("rash", "rashes"), ("itching", "itchy"), ("weight loss",), ("weight gain",),
    ("back pain",), ("joint pain", "joint pains"), ("knee pain",), ("neck pain",),
    ("blurry vision", "blurred vision", "vision changes"),
    ("bleeding",), ("bruising",), ("insomnia", "trouble sleeping"),
    ("suicidal thoughts", "suicidal ideation", "thoughts of hurting yourself",
     "thoughts of hurting myself", "suicidal", "thoughts of suicide",
     "thoughts of killing yourself", "thoughts of killing myself"),
    ("pregnancy", "pregnant"),
    ("loss of consciousness",), ("confusion", "confused"),
    # Problems (diagnoses)
    ("hypertension", "high blood pressure"),
    ("diabetes", "type 2 diabetes", "type two diabetes", "type 1 diabetes",
     "diabetes mellitus", "diabetic"),
    ("hyperlipidemia", "high cholesterol"), ("asthma",), ("copd", "emphysema"),
    ("pneumonia",), ("bronchitis",), ("sinusitis", "sinus infection"),
    ("urinary tract infection", "uti", "bladder infection"),
    ("depression", "depressed"), ("anxiety", "anxious"),
    ("atrial fibrillation", "afib", "a-fib"), ("heart failure", "chf"),
    ("coronary artery disease",),
    ("heart attack", "myocardial infarction", "heart attacks"),
    ("stroke", "strokes"), ("migraine", "migraines"), ("gout",),
    ("kidney stone", "kidney stones"), ("cancer", "breast cancer", "colon cancer",
     "lung cancer", "prostate cancer"), ("blood clot", "blood clots", "dvt",
     "pulmonary embolism"), ("seizure", "seizures", "epilepsy"),
    ("sleep apnea",), ("hypothyroidism",), ("dementia",), ("osteoporosis",),
    # Habits
    ("smoking", "smoker", "smoke", "smoked", "smokes", "cigarettes", "tobacco"),
    # "drink" forms are alcohol unless their clause says water, food or thirst (``other_sense``)
    ("alcohol", "drinker", "drink alcohol", "drinks alcohol", "drinking alcohol",
     "drank alcohol", "drink", "drinks", "drinking", "drank", "etoh"),
    ("drug use", "illicit drugs", "recreational drugs"),
    ("allergy", "allergies", "allergic"),
)  # fmt: skip

# Words that deny their concept by themselves: "afebrile" is "no fever", "not afebrile" is a
# fever (``assertion`` turns what ConText reads around them).
NEGATED_FORMS: dict[str, str] = {
    "afebrile": "fever", "nonsmoker": "smoking", "non-smoker": "smoking",
    "nondrinker": "alcohol", "non-drinker": "alcohol",
}  # fmt: skip

# "I drink a lot of water", "eating and drinking okay", "drinking a lot and peeing a lot"
# (thirst), "energy drinks", "drink it with water": not alcohol. A clause naming a drink
# of alcohol ("a glass of wine") keeps it alcohol whatever else it says.
_DRINK_FORMS = frozenset({"drink", "drinks", "drinking", "drank"})
_ALCOHOL_WORDS = re.compile(
    r"\b(alcohol\w*|beers?|wines?|liquor|whiske?y|vodka|booze|etoh|cocktails?|shots?|"
    r"six[- ]?pack|socially|drunk|hangovers?|bourbon|rum|gin|tequila|margaritas?|"
    r"heavily|heavy drinker|binge\w*|sober|quit|rehab)\b"
)
_NOT_ALCOHOL = re.compile(
    r"\b(water|fluids?|liquids?|milk|juices?|coffee|tea|sodas?|pop|gatorade|pedialyte|"
    r"electrolytes?|protein|shakes?|smoothies?|formula|broth|lemonade|caffeine|decaf|"
    r"eat|eats|eating|ate|eaten|food|foods|meals?|feeding|feeds|bottle|breast\w*|sippy|"
    r"thirst\w*|pee\w*|urinat\w*|swallow\w*|straw|(?:energy|sports?|soft|fizzy|sugary|"
    r"diet|carbonated|caffeinated|nutritional|hot|cold) drinks?)\b"
)
# "drink it with food", "drinking a lot" (thirst, unless alcohol is named), "enough".
_NOT_ALCOHOL_AFTER = re.compile(
    r"^\s+(it|this|that|them|from|through|out of|a lot|lots|more|enough|plenty)\b"
)
# Advice while on a drug is no habit: "don't drink while you're on this antibiotic".
_ADVICE = re.compile(
    r"\b(while (?:you're |you are |you )?(?:on|taking)|with (?:this|the|these|that|your) "
    r"(?:medicine|medication|antibiotics?|pills?|drug))\b"
)
_CLAUSE_EDGE = re.compile(r"[,;:.!?]")


def other_sense(low: str, start: int, end: int) -> bool:
    """A match of a concept's form at ``low[start:end]`` that means something else in its
    clause (today only "drink" forms that are not alcohol)."""
    form = low[start:end]
    if form not in _DRINK_FORMS and CANONICAL.get(form) != "alcohol":
        return False
    edges = [m.start() for m in _CLAUSE_EDGE.finditer(low)]
    lo = max([e + 1 for e in edges if e < start], default=0)
    hi = min([e for e in edges if e >= end], default=len(low))
    clause = low[lo:hi]
    if _ADVICE.search(clause):
        return True
    if form not in _DRINK_FORMS or _ALCOHOL_WORDS.search(clause):
        return False
    return bool(_NOT_ALCOHOL.search(clause) or _NOT_ALCOHOL_AFTER.match(low[end:hi]))


CANONICAL: dict[str, str] = {name: group[0] for group in CONCEPT_GROUPS for name in group}
CANONICAL.update(NEGATED_FORMS)
PATTERN = re.compile(
    r"(?<![\w-])("
    + "|".join(re.escape(p) for p in sorted(CANONICAL, key=lambda p: (-len(p), p)))
    + r")(?![\w-])"
)
