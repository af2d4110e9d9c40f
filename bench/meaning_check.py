"""CPU time of checking a 60-minute visit's note, meaning checks included.

A "60-minute visit" is ACI-Bench validation dialogues joined until 9,000 words (about an
hour of talk at 150 words a minute); its note is the reference notes' sentences of those
dialogues (first 60), spread over the four sections. Prints the CPU seconds of loading the
medspaCy pipeline (once per process), of the first check of the note (every sentence read
fresh) and of a second check (sentences cached, as when a note is re-checked).

    .venv/bin/python bench/meaning_check.py [--data PATH] [--words 9000] [--statements 60]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.acibench import default_path, load_dialogues  # noqa: E402
from shared.evidence import build_evidence  # noqa: E402
from shared.evidence.assertion import pipeline  # noqa: E402
from shared.evidence.statements import SECTIONS  # noqa: E402

_SENTENCE = re.compile(r"[^.\n]+\.")


def visit(path: Path, words: int, statements: int) -> tuple[list[tuple[int, str]], list[str]]:
    turns: list[tuple[int, str]] = []
    note: list[str] = []
    count = 0
    for dialogue in load_dialogues(path):
        for t in dialogue.turns:
            turns.append((len(turns), t.text))
            count += len(t.text.split())
        note += [s.strip() for s in _SENTENCE.findall(dialogue.note) if len(s.split()) > 3]
        if count >= words:
            break
    return turns, note[:statements]


def cpu(fn: object) -> float:
    start = time.process_time()
    fn()  # type: ignore[operator]
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_path())
    parser.add_argument("--words", type=int, default=9000)
    parser.add_argument("--statements", type=int, default=60)
    args = parser.parse_args()
    turns, note = visit(args.data, args.words, args.statements)
    sections = {s: note[i :: len(SECTIONS)] for i, s in enumerate(SECTIONS)}
    words = sum(len(t.split()) for _, t in turns)
    load = cpu(pipeline)
    first = cpu(lambda: build_evidence(sections, turns))
    second = cpu(lambda: build_evidence(sections, turns))
    print(f"visit: {len(turns)} turns, {words} words; note: {len(note)} statements")
    print(f"pipeline load (once per process): {load:.2f} s CPU")
    print(f"note check, first: {first:.2f} s CPU")
    print(f"note check, again (cached sentences): {second:.2f} s CPU")


if __name__ == "__main__":
    main()
