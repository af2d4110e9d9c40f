"""Reader for ACI-Bench dialogues (`../shared/aci-bench/valid.csv`), used by tests,
benchmarks and `medscribe eval`. The data is never copied into the repository."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r"^\[(?P<speaker>[a-z_]+)\]\s*(?P<text>.*)$")


@dataclass(frozen=True)
class DialogueTurn:
    speaker: str  # "doctor", "patient", "patient_guest", ...
    text: str


@dataclass(frozen=True)
class Dialogue:
    encounter_id: str
    turns: tuple[DialogueTurn, ...]
    note: str

    @property
    def words(self) -> int:
        return sum(len(t.text.split()) for t in self.turns)


def parse_dialogue(text: str) -> tuple[DialogueTurn, ...]:
    turns: list[DialogueTurn] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if m:
            turns.append(DialogueTurn(m["speaker"], " ".join(m["text"].split())))
        elif turns:  # continuation of the previous speaker's line
            prev = turns[-1]
            turns[-1] = DialogueTurn(prev.speaker, f"{prev.text} {' '.join(line.split())}")
    return tuple(t for t in turns if t.text)


def load_dialogues(path: Path) -> list[Dialogue]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [
            Dialogue(row["encounter_id"], parse_dialogue(row["dialogue"]), row["note"])
            for row in csv.DictReader(fh)
        ]


def default_path() -> Path:
    """`../shared/aci-bench/valid.csv` relative to the checkout."""
    return Path(__file__).resolve().parents[2] / "shared" / "aci-bench" / "valid.csv"
