"""Word lists of the clinical checks: drugs, brand names, problems, body parts, units.

Lower case. Deliberately short lists of what primary-care visits say; a word that is not
listed is simply not checked (the checker errs towards silence, the reviewer reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

K = TypeVar("K", bound=str)


def _lexicon(block: str) -> frozenset[str]:
    return frozenset(block.split())


def by_canonical(groups: Mapping[K, Iterable[str]]) -> dict[str, K]:
    """phrase -> canonical, from each canonical with its phrases (so a reader sees the
    groups, and no phrase repeats its canonical)."""
    return {phrase: canonical for canonical, phrases in groups.items() for phrase in phrases}


# Generic and brand names common in primary care. The editor's medication flags extend it.
_LISTED_DRUGS: frozenset[str] = _lexicon(
    """
    meclizine hydralazine clonidine isosorbide labetalol hydroxyurea celexa celebrex
    acetaminophen tylenol ibuprofen advil motrin naproxen aleve aspirin celecoxib meloxicam
    metformin glipizide glyburide sitagliptin januvia empagliflozin jardiance dapagliflozin
    farxiga semaglutide ozempic wegovy liraglutide victoza insulin glargine lantus lispro
    humalog lisinopril enalapril ramipril losartan valsartan olmesartan amlodipine nifedipine
    diltiazem verapamil metoprolol atenolol carvedilol propranolol hydrochlorothiazide
    chlorthalidone furosemide lasix bumetanide spironolactone atorvastatin lipitor
    simvastatin rosuvastatin crestor pravastatin ezetimibe warfarin coumadin apixaban eliquis
    rivaroxaban xarelto clopidogrel plavix heparin enoxaparin digoxin amiodarone
    nitroglycerin levothyroxine synthroid methimazole prednisone prednisolone
    methylprednisolone dexamethasone hydrocortisone albuterol ventolin fluticasone
    budesonide montelukast singulair tiotropium amoxicillin augmentin azithromycin
    zithromax doxycycline cephalexin keflex ciprofloxacin levofloxacin nitrofurantoin
    sulfamethoxazole trimethoprim bactrim clindamycin metronidazole penicillin vancomycin
    omeprazole prilosec pantoprazole esomeprazole nexium famotidine pepcid ondansetron
    zofran metoclopramide loperamide docusate sertraline zoloft fluoxetine prozac
    citalopram escitalopram lexapro paroxetine venlafaxine duloxetine cymbalta bupropion
    wellbutrin trazodone mirtazapine amitriptyline nortriptyline buspirone alprazolam
    xanax lorazepam ativan clonazepam diazepam zolpidem ambien quetiapine seroquel
    aripiprazole risperidone olanzapine lithium lamotrigine levetiracetam keppra
    topiramate valproate gabapentin neurontin pregabalin lyrica cyclobenzaprine
    methocarbamol tramadol oxycodone hydrocodone morphine codeine fentanyl naloxone
    buprenorphine methadone sumatriptan allopurinol colchicine tamsulosin finasteride
    sildenafil tadalafil oxybutynin estradiol progesterone medroxyprogesterone
    alendronate vitamin cetirizine zyrtec loratadine claritin diphenhydramine benadryl
    hydroxyzine epinephrine epipen methotrexate hydroxychloroquine adalimumab humira
    ampicillin dicloxacillin amoxil cefdinir omnicef cefuroxime ceftin cefadroxil cefazolin
    ceftriaxone rocephin cefpodoxime septra naprosyn mobic diclofenac voltaren ketorolac
    toradol indomethacin hydromorphone dilaudid percocet oxycontin vicodin norco cipro
    levaquin moxifloxacin clarithromycin biaxin erythromycin minocycline tetracycline
    benazepril quinapril captopril piperacillin nafcillin unasyn zosyn polyethylene
    valacyclovir acyclovir tirzepatide dulaglutide sacubitril
    ticagrelor dabigatran temazepam bisacodyl
    promethazine metaxalone tizanidine baclofen divalproex
    phenytoin carbamazepine donepezil memantine
    carbidopa levodopa ropinirole pramipexole tolterodine
    solifenacin dutasteride fluconazole miconazole
    oseltamivir nirmatrelvir amphetamine methylphenidate
    ranitidine
    """
)

# Brand -> generic, so "Tylenol" in the note is supported by "acetaminophen" said (and back).
BRAND_GENERIC: dict[str, str] = {
    "tylenol": "acetaminophen", "advil": "ibuprofen", "motrin": "ibuprofen",
    "aleve": "naproxen", "januvia": "sitagliptin", "jardiance": "empagliflozin",
    "farxiga": "dapagliflozin", "ozempic": "semaglutide", "wegovy": "semaglutide",
    "victoza": "liraglutide", "lantus": "glargine", "humalog": "lispro", "lasix": "furosemide",
    "lipitor": "atorvastatin", "crestor": "rosuvastatin", "coumadin": "warfarin",
    "eliquis": "apixaban", "xarelto": "rivaroxaban", "plavix": "clopidogrel",
    "synthroid": "levothyroxine", "ventolin": "albuterol", "singulair": "montelukast",
    "augmentin": "amoxicillin", "zithromax": "azithromycin", "keflex": "cephalexin",
    "bactrim": "sulfamethoxazole", "prilosec": "omeprazole", "nexium": "esomeprazole",
    "pepcid": "famotidine", "zofran": "ondansetron", "zoloft": "sertraline",
    "prozac": "fluoxetine", "lexapro": "escitalopram", "cymbalta": "duloxetine",
    "wellbutrin": "bupropion", "xanax": "alprazolam", "ativan": "lorazepam",
    "ambien": "zolpidem", "seroquel": "quetiapine", "keppra": "levetiracetam",
    "neurontin": "gabapentin", "lyrica": "pregabalin", "zyrtec": "cetirizine",
    "claritin": "loratadine", "benadryl": "diphenhydramine", "epipen": "epinephrine",
    "humira": "adalimumab", "amoxil": "amoxicillin", "omnicef": "cefdinir",
    "ceftin": "cefuroxime", "rocephin": "ceftriaxone", "septra": "sulfamethoxazole",
    "naprosyn": "naproxen", "mobic": "meloxicam", "voltaren": "diclofenac",
    "toradol": "ketorolac", "dilaudid": "hydromorphone", "percocet": "oxycodone",
    "oxycontin": "oxycodone", "vicodin": "hydrocodone", "norco": "hydrocodone",
    "cipro": "ciprofloxacin", "levaquin": "levofloxacin", "biaxin": "clarithromycin",
    "unasyn": "ampicillin", "zosyn": "piperacillin",
    "valtrex": "valacyclovir", "mounjaro": "tirzepatide", "trulicity": "dulaglutide",
    "entresto": "sacubitril", "brilinta": "ticagrelor", "pradaxa": "dabigatran",
    "restoril": "temazepam", "dulcolax": "bisacodyl", "phenergan": "promethazine",
    "skelaxin": "metaxalone", "zanaflex": "tizanidine", "depakote": "divalproex",
    "dilantin": "phenytoin", "tegretol": "carbamazepine", "aricept": "donepezil",
    "namenda": "memantine", "sinemet": "carbidopa", "requip": "ropinirole",
    "mirapex": "pramipexole", "detrol": "tolterodine", "vesicare": "solifenacin",
    "avodart": "dutasteride", "diflucan": "fluconazole", "monistat": "miconazole",
    "tamiflu": "oseltamivir", "paxlovid": "nirmatrelvir", "adderall": "amphetamine",
    "ritalin": "methylphenidate", "zantac": "ranitidine", "norvasc": "amlodipine",
    "zocor": "simvastatin", "glucophage": "metformin", "klonopin": "clonazepam",
    "flomax": "tamsulosin", "protonix": "pantoprazole", "advair": "fluticasone",
    "symbicort": "budesonide", "proair": "albuterol", "flexeril": "cyclobenzaprine",
    "toprol": "metoprolol", "lopressor": "metoprolol", "zestril": "lisinopril",
    "prinivil": "lisinopril", "cozaar": "losartan", "diovan": "valsartan",
    "medrol": "methylprednisolone", "imitrex": "sumatriptan", "effexor": "venlafaxine",
    "paxil": "paroxetine", "abilify": "aripiprazole", "valium": "diazepam",
    "ultram": "tramadol", "suboxone": "buprenorphine", "narcan": "naloxone",
    "miralax": "polyethylene", "colace": "docusate", "imodium": "loperamide",
    "reglan": "metoclopramide", "robaxin": "methocarbamol", "topamax": "topiramate",
    "lamictal": "lamotrigine", "ditropan": "oxybutynin", "proscar": "finasteride",
    "cialis": "tadalafil", "viagra": "sildenafil", "estrace": "estradiol",
    "provera": "medroxyprogesterone", "flagyl": "metronidazole",
    "macrobid": "nitrofurantoin",
}  # fmt: skip

# Every drug name checked: the listed ones and each brand and generic of the map above.
DRUG_NAMES: frozenset[str] = (
    _LISTED_DRUGS | frozenset(BRAND_GENERIC) | frozenset(BRAND_GENERIC.values())
)

# Problem names: each group is one problem, first name canonical. Generous on purpose: a
# note says "hypertension" where the patient said "my blood pressure".
PROBLEM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("hypertension", "high blood pressure", "htn", "blood pressure"),
    ("diabetes", "type 2 diabetes", "type two diabetes", "diabetic", "dm", "blood sugar",
     "sugars", "sugar", "a1c", "a one c", "hba1c", "diabetes mellitus"),
    ("prediabetes", "pre-diabetes", "prediabetic", "borderline diabetes"),
    ("hyperlipidemia", "high cholesterol", "cholesterol", "dyslipidemia", "lipids"),
    ("asthma",), ("copd", "emphysema", "chronic obstructive pulmonary disease"),
    ("pneumonia",), ("bronchitis",), ("sinusitis", "sinus infection"),
    ("influenza", "flu"), ("covid", "covid-19", "coronavirus"),
    ("urinary tract infection", "uti", "bladder infection"),
    ("depression", "depressed", "depressive"), ("anxiety", "anxious"),
    ("hypothyroidism", "underactive thyroid", "thyroid"),
    ("hyperthyroidism", "overactive thyroid", "thyroid"),
    ("atrial fibrillation", "afib", "a-fib", "a fib"),
    ("heart failure", "chf", "congestive heart failure", "hfref", "hfpef"),
    ("coronary artery disease", "cad", "blockage", "blockages"),
    ("angina",), ("myocardial infarction", "heart attack", "mi", "stemi", "nstemi"),
    ("stroke", "cva"), ("migraine", "migraines"), ("osteoarthritis", "arthritis"),
    ("rheumatoid arthritis", "ra"), ("gout",), ("osteoporosis",),
    ("gerd", "reflux", "acid reflux", "heartburn"),
    ("chronic kidney disease", "ckd", "kidney disease", "kidney function"),
    ("anemia", "anemic"), ("obesity", "obese", "weight"), ("sleep apnea", "apnea", "cpap"),
    ("cancer",), ("dementia",), ("cellulitis",), ("fracture", "broken", "break"),
    ("sprain", "sprained", "strain"), ("concussion",),
    ("allergic rhinitis", "allergies", "seasonal allergies"), ("eczema",), ("psoriasis",),
    ("neuropathy",), ("kidney stone", "kidney stones", "nephrolithiasis", "stone"),
    ("appendicitis",),
)  # fmt: skip

BODY_PARTS: frozenset[str] = _lexicon(
    """
    knee knees hip hips shoulder shoulders arm arms forearm leg legs foot feet ankle ankles
    hand hands wrist wrists elbow elbows eye eyes ear ears side flank lung lungs kidney
    breast thumb finger fingers toe toes heel calf thigh shin chest buttock groin
    extremity extremities ovary testicle temple jaw cheek neck back quadrant lobe
    meniscus ventricle atrium carotid hamstring quad quadriceps rotator achilles
    """
)
SIDES = {"left": "left", "right": "right", "bilateral": "bilateral", "both": "bilateral"}

# Written and spoken unit names -> canonical unit.
DOSE_UNITS: dict[str, str] = {
    "mg": "mg", "milligram": "mg", "milligrams": "mg", "mgs": "mg",
    "mcg": "mcg", "microgram": "mcg", "micrograms": "mcg", "ug": "mcg",
    "g": "g", "gram": "g", "grams": "g", "gm": "g",
    "ml": "ml", "milliliter": "ml", "milliliters": "ml", "cc": "ml", "ccs": "ml",
    "unit": "units", "units": "units", "iu": "units",
    "tablet": "tablets", "tablets": "tablets", "tab": "tablets", "tabs": "tablets",
    "pill": "tablets", "pills": "tablets", "capsule": "tablets", "capsules": "tablets",
    "puff": "puffs", "puffs": "puffs",
}  # fmt: skip
# Mass units compared in milligrams: "1 g" is "1000 mg".
TO_MG = {"mg": 1.0, "mcg": 0.001, "g": 1000.0}

VITAL_WORDS: dict[str, str] = {
    "blood pressure": "blood pressure", "bp": "blood pressure",
    "heart rate": "heart rate", "pulse": "heart rate", "hr": "heart rate",
    "temperature": "temperature", "temp": "temperature", "fever of": "temperature",
    "oxygen saturation": "oxygen saturation", "o2 sat": "oxygen saturation",
    "sat": "oxygen saturation", "saturation": "oxygen saturation",
    "pulse ox": "oxygen saturation", "spo2": "oxygen saturation", "oxygen": "oxygen saturation",
    "respiratory rate": "respiratory rate", "respirations": "respiratory rate",
    "weight": "weight", "weighs": "weight", "bmi": "bmi",
}  # fmt: skip

# Problem names that are also what is measured ("Weight 220 lbs.", "Blood pressure
# 120/80."): said, they support the problem ("my blood pressure" -> hypertension); written
# in a note they claim none.
MEASURE_NAMES = frozenset({
    "blood pressure", "weight", "blood sugar", "sugar", "sugars", "cholesterol", "a1c",
    "a one c", "hba1c", "thyroid", "kidney function", "lipids",
})  # fmt: skip

# Kinds of one problem that are different diagnoses: "type 1 diabetes" is not "type 2",
# "breast cancer" not "colon cancer". phrase -> (family, kind).
SUBTYPES: dict[str, tuple[str, str]] = {
    **dict.fromkeys((
        "type 1 diabetes", "type one diabetes", "type i diabetes", "t1dm", "dm1",
        "juvenile diabetes", "type 1 diabetic", "type one diabetic"), ("diabetes", "type 1")),
    **dict.fromkeys((
        "type 2 diabetes", "type two diabetes", "type ii diabetes", "t2dm", "dm2",
        "adult onset diabetes", "type 2 diabetic", "type two diabetic"), ("diabetes", "type 2")),
    "gestational diabetes": ("diabetes", "gestational"),
    **{f"{site} cancer": ("cancer", kind) for site, kind in (
        ("breast", "breast"), ("colon", "colorectal"), ("colorectal", "colorectal"),
        ("rectal", "colorectal"), ("lung", "lung"), ("prostate", "prostate"),
        ("skin", "skin"), ("pancreatic", "pancreas"), ("pancreas", "pancreas"),
        ("ovarian", "ovary"), ("cervical", "cervix"), ("uterine", "uterus"),
        ("endometrial", "uterus"), ("bladder", "bladder"), ("kidney", "kidney"),
        ("renal", "kidney"), ("thyroid", "thyroid"), ("stomach", "stomach"),
        ("gastric", "stomach"), ("liver", "liver"), ("esophageal", "esophagus"),
        ("brain", "brain"), ("testicular", "testis"), ("throat", "throat"),
        ("head and neck", "throat"), ("bone", "bone"), ("blood", "blood"))},
    "melanoma": ("cancer", "skin"), "basal cell carcinoma": ("cancer", "skin"),
    "squamous cell carcinoma": ("cancer", "skin"), "leukemia": ("cancer", "blood"),
    "lymphoma": ("cancer", "blood"), "myeloma": ("cancer", "blood"),
}  # fmt: skip

# Opposite findings: one is never a restatement of the other ("hypothyroidism" for "an
# underactive thyroid" is; "hyperthyroidism" is not). canonical -> (its opposite, forms).
OPPOSITES: dict[str, tuple[str, tuple[str, ...]]] = {
    "hypertension": ("hypotension", ("hypertension", "hypertensive", "high blood pressure",
                                     "htn")),
    "hypotension": ("hypertension", ("hypotension", "hypotensive", "low blood pressure")),
    "hyperthyroidism": ("hypothyroidism", ("hyperthyroidism", "hyperthyroid",
                                           "overactive thyroid")),
    "hypothyroidism": ("hyperthyroidism", ("hypothyroidism", "hypothyroid",
                                           "underactive thyroid", "low thyroid")),
    "hyperglycemia": ("hypoglycemia", ("hyperglycemia", "hyperglycemic", "high blood sugar",
                                       "high blood sugars", "high sugars", "high sugar")),
    "hypoglycemia": ("hyperglycemia", ("hypoglycemia", "hypoglycemic", "low blood sugar",
                                       "low blood sugars", "low sugars", "low sugar")),
    "hyperkalemia": ("hypokalemia", ("hyperkalemia", "high potassium")),
    "hypokalemia": ("hyperkalemia", ("hypokalemia", "low potassium")),
    "hypernatremia": ("hyponatremia", ("hypernatremia", "high sodium")),
    "hyponatremia": ("hypernatremia", ("hyponatremia", "low sodium")),
    "hypercalcemia": ("hypocalcemia", ("hypercalcemia", "high calcium")),
    "hypocalcemia": ("hypercalcemia", ("hypocalcemia", "low calcium")),
    "tachycardia": ("bradycardia", ("tachycardia", "tachycardic", "fast heart rate",
                                    "rapid heart rate")),
    "bradycardia": ("tachycardia", ("bradycardia", "bradycardic", "slow heart rate")),
}  # fmt: skip

# Procedures, as clinicians write them and as patients say them: a note's "status post
# appendectomy" rests on "they took my appendix out", not on "my gallbladder".
PROCEDURES: dict[str, tuple[str, ...]] = {
    "cholecystectomy": ("cholecystectomy", "gallbladder removed", "gallbladder out",
                        "gallbladder taken out", "gallbladder surgery", "lap chole",
                        "gallbladder removal"),
    "appendectomy": ("appendectomy", "appendix removed", "appendix out", "appendix taken out",
                     "appendix surgery"),
    "hysterectomy": ("hysterectomy", "uterus removed", "uterus out"),
    "tonsillectomy": ("tonsillectomy", "tonsils out", "tonsils removed", "tonsils taken out"),
    "knee replacement": ("knee replacement", "total knee", "tka", "knee arthroplasty",
                         "replaced knee", "knee replaced"),
    "hip replacement": ("hip replacement", "total hip", "tha", "hip arthroplasty",
                        "replaced hip", "hip replaced"),
    "cesarean": ("cesarean", "c-section", "c section", "caesarean"),
    "bypass surgery": ("bypass surgery", "cabg", "coronary bypass", "heart bypass",
                       "triple bypass", "quadruple bypass", "double bypass"),
    "stent": ("stent", "stents", "stented", "pci", "angioplasty"),
    "mastectomy": ("mastectomy", "lumpectomy", "breast removed"),
    "hernia repair": ("hernia repair", "hernia surgery", "hernia fixed", "herniorrhaphy"),
    "carpal tunnel release": ("carpal tunnel release", "carpal tunnel surgery"),
    "acl reconstruction": ("acl reconstruction", "acl repair", "acl surgery"),
    "cataract surgery": ("cataract surgery", "cataracts removed", "cataract removed"),
    "colonoscopy": ("colonoscopy", "colonoscopies"),
    "pacemaker": ("pacemaker",),
    "spinal fusion": ("spinal fusion", "back fusion", "fusion surgery", "fused"),
}  # fmt: skip

# Opposites a measurement does not contradict: a treated hypertensive's low pressure ("I get
# low blood pressure when I stand up") leaves the diagnosis standing.
NOT_CONTRADICTED_BY_OPPOSITE = frozenset({"hypertension"})

# Laboratory results and measures a clinician reads out: a value said after one of these
# names is that result ("your a1c came back at seven point two").
LAB_WORDS: dict[str, str] = {
    "a1c": "a1c", "hemoglobin a1c": "a1c", "hba1c": "a1c", "a one c": "a1c",
    "ldl": "ldl", "hdl": "hdl", "cholesterol": "cholesterol", "triglycerides": "triglycerides",
    "potassium": "potassium", "sodium": "sodium", "creatinine": "creatinine", "bun": "bun",
    "gfr": "gfr", "egfr": "gfr", "glucose": "glucose", "blood sugar": "glucose",
    "sugar": "glucose", "sugars": "glucose", "inr": "inr", "tsh": "tsh", "psa": "psa",
    "hemoglobin": "hemoglobin", "hgb": "hemoglobin", "platelets": "platelets",
    "platelet count": "platelets", "white count": "wbc", "wbc": "wbc",
    "white blood cell count": "wbc", "ejection fraction": "ejection fraction",
    "ef": "ejection fraction", "vitamin d": "vitamin d", "ferritin": "ferritin",
    "calcium": "calcium", "magnesium": "magnesium", "troponin": "troponin",
}  # fmt: skip


def _times(n: int) -> tuple[str, ...]:
    """ "2x daily", "2x a day", "2x/day", "2x per day" (clinicians' shorthand)."""
    return tuple(f"{n}x{sep}{day}" for sep, day in ((" ", "daily"), (" a ", "day"),
                                                     ("/", "day"), (" per ", "day")))  # fmt: skip


# Frequencies: phrase -> canonical (longest phrases are matched first).
FREQUENCIES: dict[str, str] = by_canonical({
    "daily": (
        "once a day", "once daily", "once per day", "daily", "every day", "each day", "a day",
        "per day", "qd", "q.d.", "every morning", "in the morning", *_times(1),
    ),
    "bid": (
        "twice a day", "twice daily", "two times a day", "bid", "b.i.d.", "twice per day",
        "every twelve hours", "every 12 hours", *_times(2),
    ),
    "tid": (
        "three times a day", "three times daily", "tid", "t.i.d.", "every eight hours",
        "every 8 hours", *_times(3),
    ),
    "qid": (
        "four times a day", "four times daily", "qid", "q.i.d.", "every six hours",
        "every 6 hours", *_times(4),
    ),
    "q4h": ("every four hours", "every 4 hours"),
    "nightly": (
        "at bedtime", "at night", "nightly", "qhs", "every night", "before bed", "at nighttime",
        "a night", "per night", "each night",
    ),
    "weekly": ("once a week", "weekly", "every week", "a week", "per week"),
    "monthly": ("once a month", "monthly", "every month", "a month"),
    "prn": ("as needed", "prn", "when needed", "as necessary", "if needed", "when you need"),
})  # fmt: skip
