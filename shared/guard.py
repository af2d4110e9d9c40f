"""Unsupported-addition guard: did an LLM rewrite add a number or a drug nobody said?

A clinical edit may fix how a number or a drug was written ("five hundred milligrams" ->
"500 mg", "metforman" -> "metformin") but must never introduce one. This module compares a
candidate text with its source and reports additions as reason codes (never the values:
they are patient data). The later clinical-safety checks extend this same module.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from itertools import pairwise


# Generic and brand names common in primary care (lower case). Extended by flags.py's
# medication list, which imports this one.
def _lexicon(block: str) -> frozenset[str]:
    return frozenset(block.split())


DRUG_NAMES: frozenset[str] = _lexicon(
    """
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
    """
)

_NUMBER_WORDS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_DIGITS = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
# "a half", "one and a half": fractions spoken as words count as the value 0.5.
_HALF = re.compile(r"\bhalf\b")
_AND_A_HALF = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r") and a half\b")
_SIMILAR = 0.72


def _norm(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _number_runs(text: str) -> list[list[str]]:
    """Runs of consecutive number words ("five hundred and twenty")."""
    runs: list[list[str]] = []
    run: list[str] = []
    for word in [*_WORD.findall(text.lower()), ""]:
        if word in _NUMBER_WORDS or word in _SCALES or (word == "and" and run):
            run.append(word)
            continue
        while run and run[-1] == "and":
            run.pop()
        if run:
            runs.append(run)
        run = []
    return runs


def _run_readings(run: list[str]) -> set[str]:
    """What a run of number words can mean as a whole: its value ("five hundred" -> 500)
    or a digit-by-digit reading ("one fifty" -> 150, "two thirty" -> 230)."""
    total, current = 0, 0
    for word in run:
        if word in _NUMBER_WORDS:
            current += _NUMBER_WORDS[word]
        elif word in _SCALES:
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
    readings = {str(total + current)}
    digits = [str(_NUMBER_WORDS[w]) for w in run if w in _NUMBER_WORDS]
    if len(digits) > 1 and not any(w in _SCALES for w in run):
        readings.add("".join(digits))
    return readings


def _spoken_numbers(text: str) -> set[str]:
    """Every value the number words of ``text`` may stand for: each word alone, each
    adjacent pair read digit by digit, and each whole run."""
    values: set[str] = set()
    for run in _number_runs(text):
        values |= _run_readings(run)
        digits = [str(_NUMBER_WORDS[w]) for w in run if w in _NUMBER_WORDS]
        values.update(digits)
        values.update(a + b for a, b in pairwise(digits))
    low = text.lower()
    if _HALF.search(low):
        values.add("0.5")
    for m in _AND_A_HALF.finditer(low):
        values.add(_norm(_NUMBER_WORDS[m.group(1)] + 0.5))
    return values


def numbers_in(text: str) -> set[str]:
    """Numbers written with digits, normalised ("1,000" -> "1000", "2.50" -> "2.5")."""
    return {_norm(float(m.replace(",", ""))) for m in _DIGITS.findall(text)}


def drugs_in(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w in DRUG_NAMES}


def _sounds_like_source(drug: str, source_words: list[str]) -> bool:
    """A drug absent from the source is a correction when a source word (or two joined,
    "lisa nopril") is spelled close to it."""
    candidates = source_words + [a + b for a, b in pairwise(source_words)]
    return any(SequenceMatcher(None, drug, w).ratio() >= _SIMILAR for w in candidates)


def unsupported_additions(source: str, candidate: str) -> list[str]:
    """Reason codes for what ``candidate`` adds to ``source``: ``added_number``,
    ``added_drug``. Empty when the candidate only restates the source."""
    reasons: list[str] = []
    said = numbers_in(source) | _spoken_numbers(source)
    spelled_out_new = any(not (_run_readings(r) & said) for r in _number_runs(candidate))
    if numbers_in(candidate) - said or spelled_out_new:
        reasons.append("added_number")
    source_words = _WORD.findall(source.lower())
    new_drugs = drugs_in(candidate) - set(source_words)
    if any(not _sounds_like_source(d, source_words) for d in new_drugs):
        reasons.append("added_drug")
    return reasons
