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
    ("alcohol", "drinker", "drink alcohol"), ("drug use", "illicit drugs", "recreational drugs"),
    ("allergy", "allergies", "allergic"),
)  # fmt: skip

# Words that deny their concept by themselves: "afebrile" is "no fever", "not afebrile" is a
# fever (``assertion`` turns what ConText reads around them).
NEGATED_FORMS: dict[str, str] = {
    "afebrile": "fever", "nonsmoker": "smoking", "non-smoker": "smoking",
    "nondrinker": "alcohol", "non-drinker": "alcohol",
}  # fmt: skip

CANONICAL: dict[str, str] = {name: group[0] for group in CONCEPT_GROUPS for name in group}
CANONICAL.update(NEGATED_FORMS)
PATTERN = re.compile(
    r"(?<![\w-])("
    + "|".join(re.escape(p) for p in sorted(CANONICAL, key=lambda p: (-len(p), p)))
    + r")(?![\w-])"
)
