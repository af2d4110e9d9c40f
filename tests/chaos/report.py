"""The chaos suite's summary: one row per scenario, printed at the end of the session and
kept in docs/reliability.md (between markers, so the prose around it stays)."""

from __future__ import annotations

from dataclasses import dataclass, field
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


def write_doc(rows: list[Row], soak: bool, doc: Path = DOC) -> None:
    """Replace the summary between the markers of ``doc`` (left alone if they are missing)."""
    try:
        text = doc.read_text(encoding="utf-8")
    except OSError:
        return
    if START not in text or END not in text:
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        START,
        f"Latest run: {stamp}, {'soak' if soak else 'default'} variant "
        f"(written by tests/chaos/conftest.py).",
        "",
        *table(rows),
        END,
    ]
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    doc.write_text(head + "\n".join(body) + tail, encoding="utf-8")
