"""The README's configuration table, generated from the Settings classes.

    python -m medscribe.settings_table          # print the rows
    python -m medscribe.settings_table --write  # rewrite them in README.md

The rows sit between two HTML comments in README.md; ``tests/stack/test_readme.py``
fails when they differ from what the classes say (a default changed, a setting added).
A variable read by several services with different defaults shows each one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from medscribe.supervisor.config import SupervisorSettings
from services.capture.config import CaptureSettings
from services.editor.config import EditorSettings
from services.notes.config import NotesSettings
from services.stt_bridge.config import BridgeSettings
from shared.config import ToolSettings
from shared.settings import AssemblyAISettings, CommonSettings

START = "<!-- settings-table:start (python -m medscribe.settings_table --write) -->"
END = "<!-- settings-table:end -->"
HEADER = ["| variable | used by | default | meaning |", "|---|---|---|---|"]
CLASSES: list[tuple[str, type[BaseSettings]]] = [
    ("bridge", BridgeSettings), ("editor", EditorSettings), ("notes", NotesSettings),
    ("capture", CaptureSettings), ("demo/up", SupervisorSettings), ("tools", ToolSettings),
]  # fmt: skip
# Fields whose Settings carry no description.
EXTRA = {
    "temperature": "Temperature of the per-turn edit.",
    "max_tokens": "max_tokens of the per-turn edit.",
    "merge_max_turns": "Most turns merged into one request.",
    "merge_max_chars": "Most characters merged into one request.",
    "breaker_cooldown_s": "Seconds the open circuit waits before probing the gateway.",
    "claim_every_s": "How often dead workers' turns are looked for.",
    "max_deliveries": "Deliveries before a turn goes to the dead-letter stream.",
    "block_ms": "Longest blocking read on the stream (ms).",
    "soap_temperature": "Temperature of the SOAP request.",
    "language": "Language code of the visit.",
}
# Defaults that depend on the machine, shown as a reader should understand them.
PER_PROCESS = "(per host/process)"
DEFAULTS = {
    "spool_dir": "~/.local/share/medscribe/spool",
    "consumer": PER_PROCESS,  # derived from host name and pid when empty
    "consumer_name": PER_PROCESS,
}


def _shown(name: str, f: Any) -> str:
    if name in DEFAULTS:
        return DEFAULTS[name]
    if f.default_factory is not None:
        made = f.default_factory()
        if isinstance(made, tuple | list):
            return ", ".join(str(x) for x in made)
        if isinstance(made, dict):
            return str(made)
        return PER_PROCESS
    d = f.default
    if d is None or hasattr(d, "get_secret_value"):
        return ""
    if isinstance(d, tuple | list):
        return ", ".join(str(x) for x in d)
    return str(d)


def rows() -> list[str]:
    common = set(CommonSettings.model_fields) | set(AssemblyAISettings.model_fields)
    # env -> (label -> default, description, common)
    table: dict[str, tuple[dict[str, str], str, bool]] = {}
    for label, cls in CLASSES:
        for name, f in cls.model_fields.items():
            alias = f.validation_alias
            env = (
                " / ".join(f"`{c}`" for c in alias.choices)
                if isinstance(alias, AliasChoices)
                else f"`MEDSCRIBE_{name.upper()}`"
            )
            desc = (f.description or EXTRA.get(name, "")).replace("|", "\\|")
            if env not in table:
                table[env] = ({}, desc, name in common)
            table[env][0][label] = _shown(name, f)
    everyone = {label for label, _ in CLASSES}
    out = []
    for env in sorted(table, key=lambda e: (not table[e][2], e)):
        defaults, desc, _ = table[env]
        labels = set(defaults)
        used = "all" if labels >= everyone else ", ".join(x for x, _ in CLASSES if x in labels)
        values = set(defaults.values())
        if len(values) == 1:
            value = values.pop()
            shown = f"`{value}`" if value else ""
        else:  # e.g. the editor's per-turn timeout and the notes' SOAP timeout
            shown = "; ".join(
                f"{x}: `{defaults[x]}`" if defaults[x] else f"{x}: (none)"
                for x, _ in CLASSES
                if x in defaults
            )
        out.append(f"| {env} | {used} | {shown} | {desc} |")
    return out


def table() -> str:
    return "\n".join([START, *HEADER, *rows(), END])


def current(readme: str) -> str | None:
    """The table as it stands in ``readme`` (markers included), or None without markers."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        return None
    return readme[start : end + len(END)]


def rewrite(path: Path) -> bool:
    """Put the generated table into the README; True when it changed."""
    text = path.read_text(encoding="utf-8")
    old = current(text)
    if old is None:
        raise SystemExit(f"{path}: markers {START!r} ... {END!r} not found")
    new = text.replace(old, table())
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        readme = Path(__file__).resolve().parent.parent / "README.md"
        print("README.md updated" if rewrite(readme) else "README.md already current")
    else:
        print(table())
