"""Common speech-recognition mis-hearings of clinical terms, and the turns built from them.

Each entry is what a recognizer wrote for a drug name (split into ordinary words,
respelled by sound) and what the clinician said. The LLM Gateway simulator can use the
table to answer as a real model does (mis-hearing in, correction out); the guard tests
measure on it how many such corrections survive and that inventions still do not.
"""

from __future__ import annotations

from dataclasses import dataclass

# (what was said, what the recognizer wrote)
DRUG_MISHEARINGS: tuple[tuple[str, str], ...] = (
    ("atorvastatin", "a tour of a statin"),
    ("amoxicillin", "a mocks a cillin"),
    ("lisinopril", "lisa nopril"),
    ("lisinopril", "listen april"),
    ("metformin", "met foreman"),
    ("metformin", "metforman"),
    ("metoprolol", "meadow pro lol"),
    ("gabapentin", "gabba pen tin"),
    ("omeprazole", "oh me prazole"),
    ("amlodipine", "am low dipine"),
    ("sertraline", "sir tra lean"),
    ("losartan", "low sartan"),
    ("albuterol", "al beauty rol"),
    ("furosemide", "fear o semide"),
    ("warfarin", "war for in"),
    ("simvastatin", "sim va statin"),
    ("clopidogrel", "clo pid o grel"),
    ("pantoprazole", "panto prazole"),
    ("tramadol", "trauma doll"),
    ("zoloft", "so loft"),
    ("xarelto", "zarelto"),
    ("eliquis", "eli quiz"),
    ("ozempic", "oh zempic"),
    ("hydrochlorothiazide", "hydro chloro thigh a side"),
    ("levothyroxine", "levo thigh roxine"),
    ("prednisone", "pred ni zone"),
    ("azithromycin", "a zith row my sin"),
    ("cephalexin", "sef a lexin"),
    ("ciprofloxacin", "cipro flocks a sin"),
    ("doxycycline", "doxy sigh clean"),
    ("escitalopram", "es sita low pram"),
    ("citalopram", "sita low pram"),
    ("fluoxetine", "flu ox a teen"),
    ("bupropion", "bew pro pion"),
    ("trazodone", "trays o done"),
    ("duloxetine", "dew lox a teen"),
    ("montelukast", "monty lou cast"),
    ("cetirizine", "set eera zeen"),
    ("famotidine", "fa mo to dean"),
    ("ondansetron", "on dance a tron"),
    ("meloxicam", "mel ox a cam"),
    ("naproxen", "nap rocks in"),
    ("ibuprofen", "eye bew profen"),
    ("acetaminophen", "a seat a mino fen"),
    ("spironolactone", "spiro no lactone"),
    ("carvedilol", "car veda lol"),
    ("diltiazem", "dill tie a zem"),
    ("allopurinol", "allo pure in all"),
    ("colchicine", "col chi seen"),
    ("rosuvastatin", "row sue va statin"),
    ("pravastatin", "prava statin"),
    ("tamsulosin", "tam sue low sin"),
    ("finasteride", "fin ass ter ride"),
    ("topiramate", "toe peer a mate"),
    ("lamotrigine", "lamo tri jean"),
    ("quetiapine", "kwe tie a peen"),
    ("apixaban", "a picks a ban"),
    ("rivaroxaban", "riva rox a ban"),
    ("enoxaparin", "e nox a parin"),
    ("methotrexate", "metho trex ate"),
    ("hydroxychloroquine", "hydroxy chloro queen"),
    ("sumatriptan", "sue ma trip tan"),
    ("cyclobenzaprine", "cyclo benza preen"),
    ("oxybutynin", "oxy bew tin in"),
    ("pregabalin", "pre gaba lin"),
    ("buspirone", "bus pie rone"),
    ("mirtazapine", "mir taza peen"),
    ("venlafaxine", "ven la fax een"),
    ("semaglutide", "sema glue tide"),
    ("empagliflozin", "empa gli flow zin"),
)

# Templates of a turn: {heard} is the recognizer's text, {dose} a spoken number.
TEMPLATES: tuple[tuple[str, str], ...] = (
    ("I take {heard} {dose} every morning.", "I take {drug} {dose} every morning."),
    ("We'll start you on {heard} today.", "We'll start you on {drug} today."),
    ("Any side effects from the {heard}", "Any side effects from the {drug}?"),
)
DOSES = ("ten", "twenty", "forty", "five hundred", "twenty five")


@dataclass(frozen=True)
class EditCase:
    heard: str  # the turn as the recognizer wrote it
    edited: str  # the model's edit
    correction: bool  # True: a correction to keep; False: an invention to reject


def correction_cases() -> list[EditCase]:
    """Every mis-hearing in every template: the edit restores the drug name."""
    out = []
    for i, (drug, heard) in enumerate(DRUG_MISHEARINGS):
        for j, (src, dst) in enumerate(TEMPLATES):
            if (i + j) % 2:  # half of the pairs: enough cases, less repetition
                continue
            dose = DOSES[(i + j) % len(DOSES)]
            out.append(
                EditCase(src.format(heard=heard, dose=dose), dst.format(drug=drug, dose=dose), True)
            )
    return out


# A drug added where nothing heard sounds like it, or a heard drug swapped for another one.
INVENTIONS: tuple[tuple[str, str], ...] = (
    ("I've been feeling dizzy when I stand up.", "I've been feeling dizzy; started meclizine."),
    ("My knee hurts when I climb stairs.", "My knee hurts when I climb stairs; I take ibuprofen."),
    ("I sleep about five hours a night.", "I sleep about five hours a night with zolpidem."),
    ("The cough started last week.", "The cough started last week; azithromycin was given."),
    ("No chest pain, no shortness of breath.", "No chest pain, no shortness of breath on aspirin."),
    ("I stopped smoking in March.", "I stopped smoking in March with bupropion."),
    ("My sugars have been high.", "My sugars have been high on metformin."),
    ("We'll check your pressure again.", "We'll check your pressure again on lisinopril."),
    ("I feel anxious most days.", "I feel anxious most days and take sertraline."),
    ("The rash is on my arm.", "The rash is on my arm; hydrocortisone helps."),
    ("I take lisinopril in the morning.", "I take losartan in the morning."),
    ("I take metoprolol twice a day.", "I take metformin twice a day."),
    ("She was on hydroxyzine for itching.", "She was on hydralazine for itching."),
    ("He takes prednisone for the flare.", "He takes prednisolone for the flare."),
    ("I use the albuterol inhaler.", "I use the budesonide inhaler."),
    ("I take sertraline at night.", "I take citalopram at night."),
    ("I take amlodipine daily.", "I take nifedipine daily."),
    ("Tramadol for the back pain.", "Tramadol and oxycodone for the back pain."),
    ("I take my pills with breakfast.", "I take my warfarin with breakfast."),
    ("My mom had a stroke.", "My mom had a stroke and was on clopidogrel."),
    ("I'm allergic to penicillin.", "I'm allergic to penicillin and amoxicillin."),
    ("The pain is a seven out of ten.", "The pain is a seven out of ten; gabapentin."),
    ("Let's get some labs.", "Let's get some labs and start atorvastatin."),
    ("I drink two coffees a day.", "I drink two coffees a day and take omeprazole."),
    ("I walk every day.", "I walk every day and take 81 mg aspirin."),
    ("Take one tablet at night.", "Take one 50 mg tablet at night."),
    ("The swelling is in my ankle.", "The swelling is in my left ankle."),
    ("I take a statin.", "I take simvastatin 40 mg."),
    ("I'm on a blood thinner.", "I'm on apixaban."),
    ("The doctor gave me an antibiotic.", "The doctor gave me doxycycline."),
    ("I have a list of my medicines.", "I have a list of my medicines: lisinopril."),
    ("My sister uses an inhaler.", "My sister uses an albuterol inhaler."),
    # The turn names a class or a look-alike word, not the drug: still an invention.
    ("I take a statin.", "I take atorvastatin."),
    ("I'm on a blood pressure pill.", "I'm on lisinopril."),
    ("She takes a water pill.", "She takes furosemide."),
    ("He's on a beta blocker.", "He's on metoprolol."),
    ("My son Tyler drove me here.", "My son Tylenol drove me here."),
    ("We had lunch at the diner.", "We had lunch at the diner; I took my insulin."),
    ("I went to the pharmacy on Lexington.", "I went to the pharmacy for Lexapro."),
    ("My daughter is in Seattle.", "My daughter is in Seattle; I take cetirizine."),
    ("I have a prescription from Dr. Warren.", "I have a warfarin prescription from Dr. Warren."),
    ("The medicine makes me sleepy.", "The trazodone makes me sleepy."),
    ("I take vitamins and fish oil.", "I take vitamins, fish oil and metformin."),
    ("I tried the cream.", "I tried the hydrocortisone cream."),
)


def invention_cases() -> list[EditCase]:
    return [EditCase(src, dst, False) for src, dst in INVENTIONS]
