"""Clinical concepts whose assertion (said present, denied, ...) is checked.

Stricter than the problem groups of ``lexicon``: those are generous on purpose (a note's
"hypertension" rests on "my blood pressure"), but "no weight loss" must not deny obesity
and "blood pressure is fine" must not assert hypertension. Each group is one concept,
first name canonical; lower case; plural and spoken variants listed.
"""

from __future__ import annotations

import re

# Findings said as what cannot be done: "can't catch my breath", "she cannot sleep".
_CANNOT = ("can't", "cannot", "can not", "couldn't", "could not", "unable to")
_WHOSE = ("my", "her", "his", "their", "your")
CONCEPT_GROUPS: tuple[tuple[str, ...], ...] = (
    # Symptoms
    ("fever", "fevers", "febrile", "feverish"), ("chills",),
    ("night sweats", "sweating at night", "drenching sweats"),
    ("chest pain", "chest pains", "chest discomfort", "chest tightness", "chest pressure"),
    ("shortness of breath", "short of breath", "sob", "dyspnea", "trouble breathing",
     "difficulty breathing", "out of breath", "winded", "breathless",
     "hard to breathe", *(f"{cannot} {what}" for cannot in _CANNOT for what in (
         "breathe", "get enough air", *(f"{verb} {whose} breath" for verb in ("catch", "get")
                                        for whose in _WHOSE)))),
    ("cough", "coughing"), ("wheezing", "wheeze"), ("sore throat", "throat hurts"),
    ("congestion", "stuffy nose", "runny nose"),
    ("headache", "headaches"), ("dizziness", "dizzy", "lightheaded", "lightheadedness", "vertigo",
     "room spinning"),
    ("fainting", "syncope", "passed out", "passing out", "blacked out", "fainted"),
    ("palpitations", "heart racing", "heart pounding", "heart fluttering", "racing heart"),
    ("nausea", "nauseous", "nauseated", "queasy", "sick to my stomach"),
    ("vomiting", "throwing up", "threw up", "vomited", "puking",
     *(f"{cannot} keep {what} down" for cannot in _CANNOT for what in ("food", "anything"))),
    ("diarrhea", "loose stools", "watery stools"), ("constipation", "constipated"),
    ("abdominal pain", "stomach pain", "belly pain", "stomach ache", "stomachache",
     "tummy ache", "abdominal cramps"),
    ("blood in the stool", "blood in stool", "rectal bleeding", "bloody stools",
     "blood in my stool", "blood in my stools", "blood in the stools", "bloody stool"),
    ("blood in the urine", "hematuria", "blood in my urine", "blood in urine"),
    ("burning with urination", "dysuria", "pain with urination"),
    ("fatigue", "tired", "tiredness", "exhausted", "worn out", "no energy", "low energy",
     "zero energy", "lack of energy"), ("weakness",),
    ("numbness", "numb"), ("tingling", "pins and needles"), ("swelling", "swollen", "edema"),
    ("rash", "rashes"), ("itching", "itchy"), ("weight loss", "lost weight", "losing weight"),
    ("weight gain", "gained weight", "gaining weight", "put on weight"),
    ("back pain",), ("joint pain", "joint pains"), ("knee pain",), ("neck pain",),
    ("blurry vision", "blurred vision", "vision changes"),
    ("bleeding",), ("bruising",),
    ("insomnia", "trouble sleeping", "difficulty sleeping", "trouble falling asleep",
     "trouble staying asleep", "hard time sleeping", "haven't been able to sleep",
     "haven't been sleeping", "not sleeping", *(f"{cannot} {what}" for cannot in _CANNOT
                                                for what in ("sleep", "fall asleep",
                                                             "stay asleep", "get to sleep"))),
    ("suicidal thoughts", "suicidal ideation", "thoughts of hurting yourself",
     "thoughts of hurting myself", "suicidal", "thoughts of suicide",
     "thoughts of killing yourself", "thoughts of killing myself"),
    ("pregnancy", "pregnant"),
    ("loss of consciousness",), ("confusion", "confused"),
    # Findings a measured vital sign also says (``meaning._THRESHOLDS``)
    ("tachycardia", "tachycardic", "fast heart rate", "rapid heart rate"),
    ("bradycardia", "bradycardic", "slow heart rate"),
    ("hypoxia", "hypoxic", "hypoxemia", "hypoxemic", "low oxygen", "desaturation",
     "desaturating"),
    ("tachypnea", "tachypneic", "tachypnoea", "tachypnoeic", "rapid breathing"),
    ("hypotension", "hypotensive", "low blood pressure"),
    # Problems (diagnoses)
    ("hypertension", "high blood pressure"),
    ("diabetes", "type 2 diabetes", "type two diabetes", "type 1 diabetes",
     "diabetes mellitus", "diabetic"),
    ("hyperlipidemia", "high cholesterol"), ("asthma",), ("copd", "emphysema"),
    ("pneumonia",), ("bronchitis",), ("sinusitis", "sinus infection"),
    ("urinary tract infection", "uti", "bladder infection"),
    ("depression", "depressed"), ("anxiety", "anxious"),
    ("atrial fibrillation", "afib", "a-fib"), ("heart failure", "chf"),
    ("coronary artery disease",), ("heart disease",),
    ("heart attack", "myocardial infarction", "heart attacks"),
    ("stroke", "strokes"), ("migraine", "migraines"), ("gout",),
    ("kidney stone", "kidney stones"), ("cancer", "breast cancer", "colon cancer",
     "lung cancer", "prostate cancer"), ("blood clot", "blood clots", "dvt",
     "pulmonary embolism"), ("seizure", "seizures", "epilepsy"),
    ("sleep apnea",), ("hypothyroidism",), ("dementia",), ("osteoporosis",),
    ("kidney disease", "chronic kidney disease", "ckd"), ("acid reflux", "gerd", "heartburn"),
    ("anemia", "anaemia"),
    # Habits
    ("smoking", "smoker", "smoke", "smoked", "smokes", "cigarettes", "tobacco"),
    # "drink" forms are alcohol unless their clause says water, food or thirst (``other_sense``)
    ("alcohol", "drinker", "drink alcohol", "drinks alcohol", "drinking alcohol",
     "drank alcohol", "drink", "drinks", "drinking", "drank", "etoh", "beer", "beers", "wine",
     "liquor", "whiskey", "vodka", "cocktails"),
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
# "beer", "wine" are alcohol when drunk: an amount or a container before them ("a couple
# of beers", "a glass of wine"), a drink word, or a rate after ("wine every night");
# "root beer", "wine vinegar" and advice to avoid them are not.
_BEVERAGES = frozenset({"beer", "beers", "wine", "liquor", "whiskey", "vodka", "cocktails"})
_AMOUNT_BEFORE = re.compile(
    r"\b(?:a|an|one|two|three|four|five|six|couple|few|several|some|any|no|\d+|glass(?:es)?|"
    r"bottles?|cans?|pints?|shots?|drinks?|drinking|drank|of|occasional|much)\s+$"
)
_RATE_AFTER = re.compile(
    r"^\s+(?:(?:a|per|every|each) (?:day|night|week|weekend)|daily|nightly|weekly|on (?:the )?"
    r"weekends?|socially|with (?:dinner|meals))"
)
_NOT_BEVERAGE = re.compile(r"\b(?:root|ginger|cooking)\s+$|^\s+vinegar")
_TO_SOB = re.compile(r"\b(?:to|started|began|would)\s+$")


def other_sense(low: str, start: int, end: int) -> bool:
    """A match of a concept's form at ``low[start:end]`` that means something else in its
    clause (today only "drink" forms that are not alcohol)."""
    form = low[start:end]
    if form.endswith(" energy"):  # "no energy drinks": a drink, not fatigue
        return low.startswith((" drink", " bar", " shot"), end)
    if form == "sob":  # "a sob story", "started to sob": crying, not short of breath
        return low.startswith(" story", end) or bool(_TO_SOB.search(low, 0, start))
    if form not in _DRINK_FORMS and CANONICAL.get(form) != "alcohol":
        return False
    edges = [m.start() for m in _CLAUSE_EDGE.finditer(low)]
    lo = max([e + 1 for e in edges if e < start], default=0)
    hi = min([e for e in edges if e >= end], default=len(low))
    clause = low[lo:hi]
    if _ADVICE.search(clause):
        return True
    if form in _BEVERAGES:
        if _NOT_BEVERAGE.search(low[lo:start]) or _NOT_BEVERAGE.search(low[end:hi]):
            return True
        drunk = _AMOUNT_BEFORE.search(low[lo:start]) or _RATE_AFTER.match(low[end:hi])
        return not (drunk or any(w in _DRINK_FORMS for w in re.findall(r"[a-z]+", clause)))
    if form not in _DRINK_FORMS or _ALCOHOL_WORDS.search(clause):
        return False
    return bool(_NOT_ALCOHOL.search(clause) or _NOT_ALCOHOL_AFTER.match(low[end:hi]))


CANONICAL: dict[str, str] = {name: group[0] for group in CONCEPT_GROUPS for name in group}
# Names that hold a negation word ("can't sleep", "no energy"): the negation is the finding,
# so ConText must not read it as denying this or any other concept of the sentence.
NEGATION_WORDS = frozenset({"no", "not", "can't", "cannot", "couldn't", "haven't", "unable"})
NEGATING_NAMES = tuple(
    name for name in CANONICAL if NEGATION_WORDS & set(name.split()) or "lack of" in name
)
CANONICAL.update(NEGATED_FORMS)
PATTERN = re.compile(
    r"(?<![\w-])("
    + "|".join(re.escape(p) for p in sorted(CANONICAL, key=lambda p: (-len(p), p)))
    + r")(?![\w-])"
)


# Clinicians' abbreviations, read as their words before the concepts and ConText's rules
# ("Pt c/o CP" is "complains of chest pain"). Only what is unambiguous in a clinic note;
# two-letter capitals only as capitals ("HA" is a headache, "ha" a laugh), and not where
# the same letters mean something else: "SI joint" (sacroiliac), "HA injection"
# (hyaluronic acid), "LOC:" (level of consciousness).
_SHORT_CAPS: tuple[tuple[str, str], ...] = (
    (r"CP", "chest pain"), (r"HAs?(?!\s*(?:injections?|shots?))", "headache"),
    (r"MI", "myocardial infarction"),
    (r"T2DM|DM2|DM", "diabetes"), (r"LOC(?!\s*:)", "loss of consciousness"),
    (r"HLD", "hyperlipidemia"), (r"CVA", "stroke"), (r"CAD", "coronary artery disease"),
    (r"DOE", "dyspnea"), (r"SI(?!\s*joint)", "suicidal ideation"),
    (r"BRBPR", "rectal bleeding"), (r"FHx?", "family history"),
    (r"PMHx?", "past medical history"),
)  # fmt: skip
_SHORT_ANY_CASE: tuple[tuple[str, str], ...] = (
    (r"no c/o", "no complaints of"), (r"n/v/d", "nausea and vomiting and diarrhea"),
    (r"n/v", "nausea and vomiting"),
    (r"h/a", "headache"), (r"c/o", "complains of"), (r"h/o", "history of"),
    (r"w/o", "without"), (r"s/p", "status post"), (r"htn", "hypertension"),
    (r"abd pain", "abdominal pain"), (r"pos for", "positive for"),
    (r"fam(?:ily)? hx", "family history"), (r"nil", "no"),
)  # fmt: skip
# A sign after a finding says it (a clause's end follows); before one, it starts a list.
_AFTER = r"(?=\s*(?:[,;.)]|$))"
_MARKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<=\w)[\s:]*\(\s*(?:-|neg|negative|-ve)\s*\)" + _AFTER
                + r"|(?<=[\w:])\s+(?:neg|negative|-ve)(?!\w)" + _AFTER, re.I), " absent"),
    (re.compile(r"(?<=\w)[\s:]*\(\s*(?:\+|pos|positive|\+ve)\s*\)" + _AFTER
                + r"|(?<=[\w:])\s+(?:pos|positive|\+ve)(?!\w)" + _AFTER, re.I), " present"),
    # "CP/SOB: denies.", "Chest pain: none."
    (re.compile(r"(?<=\w)\s*:\s*(?:denies|denied|none)\b" + _AFTER, re.I), " absent"),
    (re.compile(r"\(\s*-\s*\)\s*|(?<![\w)])[\u00d8\u00f8]\s*|\b(?:neg|negative)\s*:\s*", re.I),
     "negative for "),
    (re.compile(r"\b(?:pos|positive)\s*:\s*", re.I), "positive for "),
    (re.compile(r"\(\s*\+\s*\)\s*|(?<![\w)])\+(?=[a-z])", re.I), "positive for "),
)  # fmt: skip
_SHORT: tuple[tuple[re.Pattern[str], str], ...] = (
    *_MARKS,
    *((re.compile(rf"(?<![\w-])(?:{a})(?![\w-])"), w) for a, w in _SHORT_CAPS),  # "CP/SOB"
    *((re.compile(rf"(?<![\w/-])(?:{a})(?![\w/-])", re.I), w) for a, w in _SHORT_ANY_CASE),
)


def expand(sentence: str) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    """``sentence`` in lower case with its abbreviations written out, and each written-out
    (start, end) with the abbreviation as written (lower case), to show it as written."""
    hits: list[tuple[int, int, str]] = []
    for pattern, words in _SHORT:
        for m in pattern.finditer(sentence):
            if m.end() > m.start() and not any(m.start() < e and s < m.end() for s, e, _ in hits):
                hits.append((m.start(), m.end(), words))
    out: list[str] = []
    regions: list[tuple[int, int, str]] = []
    at = size = 0
    for start, end, words in sorted(hits):
        out.append(sentence[at:start])
        size += start - at
        regions.append((size, size + len(words), sentence[start:end].strip().lower()))
        out.append(words)
        size += len(words)
        at = end
    out.append(sentence[at:])
    return "".join(out).lower(), tuple(regions)
