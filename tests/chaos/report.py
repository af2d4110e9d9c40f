"""The chaos suite's summary: one row per scenario, printed at the end of the session and
saved to a results file outside the checkout (a test run never changes tracked files).
``python -m tests.chaos.report RESULTS.json`` copies a run's rows into docs/reliability.md
(between markers, so the prose around it stays), on purpose."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
RESULTS_ENV = "MEDSCRIBE_CHAOS_RESULTS"  # where a run saves its rows (default: below)
STAMP = "%Y-%m-%d %H:%M"
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


def default_results() -> Path:
    """A new file per run in the system's temp folder (runs at once never share one)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / "medscribe-chaos" / f"results-{stamp}-{os.getpid()}.json"


def save_results(rows: list[Row], soak: bool, path: Path) -> None:
    """A session's rows, whether it ran the soak, and when it ended (UTC)."""
    data = {
        "finished_utc": datetime.now(UTC).strftime(STAMP),
        "soak": soak,
        "rows": [asdict(r) for r in rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def load_results(path: Path) -> tuple[list[Row], bool, str]:
    """Rows, soak flag and end stamp of a results file; ValueError if it is not one."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        rows = [Row(**fields) for fields in data["rows"]]
        soak, stamp = bool(data["soak"]), str(data["finished_utc"])
        datetime.strptime(stamp, STAMP)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} is not a chaos results file ({type(err).__name__})") from None
    return rows, soak, stamp


def write_doc(rows: list[Row], soak: bool, doc: Path = DOC, stamp: str | None = None) -> None:
    """Update the summary between the markers of ``doc``: these scenarios replace their
    earlier rows, the others stay. ValueError if the markers are missing."""
    text = doc.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"{doc} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    block, tail = rest.split(END, 1)
    stamp = stamp or datetime.now(UTC).strftime(STAMP)
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
        "Copied from a run's results file by `python -m tests.chaos.report RESULTS.json`",
        "(each chaos run prints the file's path); a scenario's row is its latest copied run.",
        "",
        line(header),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        *(line(c) for c in cells[1:]),
        END,
    ]
    doc.write_text(head + "\n".join(body) + tail, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.chaos.report RESULTS.json [--doc PATH]``: copy a run's summary."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos.report",
        description="Copy a chaos run's summary (the results file it printed) into the "
        "reliability doc, between its chaos-summary markers.",
    )
    parser.add_argument("results", type=Path, help="the results file a chaos run printed")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"default: {DOC}")
    args = parser.parse_args(argv)
    try:
        rows, soak, stamp = load_results(args.results)
        write_doc(rows, soak, args.doc, stamp)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.doc}: {len(rows)} scenario row(s) from the run of {stamp} UTC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
