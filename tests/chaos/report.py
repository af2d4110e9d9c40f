"""The chaos suite's summary: one row per scenario, printed at the end of the session and
kept in docs/reliability.md (between markers, so the prose around it stays)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
START = "<!-- chaos-summary:start -->"
END = "<!-- chaos-summary:end -->"
HEADER = (
    "scenario", "encounters", "turns expected", "turns delivered", "duplicates", "notes",
    "recovery s", "result",
)  # fmt: skip


@dataclass
class Row:
    scenario: str
    nodeid: str
    encounters: int = 0
    turns_expected: int = 0
    turns_delivered: int = 0
    duplicates: int = 0
    notes: int = 0
    recovery_s: list[float] = field(default_factory=list)
    outcome: str = "running"

    def cells(self) -> tuple[str, ...]:
        rec = f"{max(self.recovery_s):.1f}" if self.recovery_s else "-"
        return (
            self.scenario, str(self.encounters), str(self.turns_expected),
            str(self.turns_delivered), str(self.duplicates), str(self.notes), rec, self.outcome,
        )  # fmt: skip


ROWS: list[Row] = []
ROWS_DIR_ENV = "MEDSCRIBE_CHAOS_ROWS_DIR"


def save_rows(rows: list[Row], folder: Path) -> None:
    """A worker's rows for the controller's table (pytest-xdist runs)."""
    (folder / f"rows-{os.getpid()}.json").write_text(json.dumps([asdict(r) for r in rows]))


def load_rows(folder: Path) -> list[Row]:
    out: list[Row] = []
    for path in sorted(folder.glob("rows-*.json")):
        out.extend(Row(**fields) for fields in json.loads(path.read_text()))
    return out


def new_row(scenario: str, nodeid: str) -> Row:
    row = Row(scenario, nodeid)
    ROWS.append(row)
    return row


def table(rows: list[Row]) -> list[str]:
    cells = [HEADER, *(r.cells() for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]

    def line(c: tuple[str, ...]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) + " |"

    return [line(HEADER), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [
        line(c) for c in cells[1:]
    ]


def _rows_in(block: str) -> dict[str, tuple[str, ...]]:
    """Rows of an earlier summary table in the doc, by scenario (header and rule skipped)."""
    out = {}
    for line in block.splitlines():
        cells = tuple(c.strip() for c in line.strip().strip("|").split("|"))
        rule = set(cells[0]) <= {"-"}
        if line.startswith("|") and len(cells) == len(HEADER) + 1 and cells[0] != HEADER[0]:
            out.update({} if rule else {cells[0]: cells})
    return out


def write_doc(rows: list[Row], soak: bool, doc: Path = DOC) -> None:
    """Update the summary between the markers of ``doc``: this session's scenarios replace
    their earlier rows, the others stay (left alone if the markers are missing)."""
    try:
        text = doc.read_text(encoding="utf-8")
    except OSError:
        return
    if START not in text or END not in text:
        return
    head, rest = text.split(START, 1)
    block, tail = rest.split(END, 1)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    merged = _rows_in(block)
    for r in rows:
        merged[r.scenario] = (*r.cells(), stamp + (" soak" if soak else ""))
    header = (*HEADER, "run (UTC)")
    cells = [header, *merged.values()]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]

    def line(c: tuple[str, ...]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) + " |"

    body = [
        START,
        "Written by tests/chaos/conftest.py after each session that ran chaos scenarios; a",
        "scenario's row is its latest run.",
        "",
        line(header),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        *(line(c) for c in cells[1:]),
        END,
    ]
    doc.write_text(head + "\n".join(body) + tail, encoding="utf-8")
