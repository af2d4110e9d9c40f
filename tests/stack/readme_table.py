"""Print the README's configuration table from the Settings classes:
`python -m tests.stack.readme_table` (paste the rows under the table header)."""

from __future__ import annotations

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from services.capture.config import CaptureSettings
from services.editor.config import EditorSettings
from services.notes.config import NotesSettings
from services.stt_bridge.config import BridgeSettings
from services.supervisor.config import SupervisorSettings
from shared.config import ToolSettings
from shared.settings import AssemblyAISettings, CommonSettings

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
DEFAULTS = {
    "spool_dir": "~/.local/share/medscribe/spool",
    "llm_models": "claude-sonnet-4-6, claude-haiku-4-5-20251001, gemini-2.5-flash, gemini-2.5-pro",
    "speaker_roles": "{}",
}


def rows() -> list[str]:
    common = set(CommonSettings.model_fields) | set(AssemblyAISettings.model_fields)
    table: dict[str, tuple[set[str], str, str, bool]] = {}
    for label, cls in CLASSES:
        for name, f in cls.model_fields.items():
            alias = f.validation_alias
            env = (
                " / ".join(f"`{c}`" for c in alias.choices)
                if isinstance(alias, AliasChoices)
                else f"`MEDSCRIBE_{name.upper()}`"
            )
            if env not in table:
                d = "(per host/process)" if f.default_factory is not None else f.default
                shown = "" if d is None or hasattr(d, "get_secret_value") else str(d)
                if isinstance(d, tuple):
                    shown = ",".join(d)
                shown = DEFAULTS.get(name, shown)
                desc = (f.description or EXTRA.get(name, "")).replace("|", "\\|")
                table[env] = (set(), shown, desc, name in common)
            table[env][0].add(label)
    everyone = {label for label, _ in CLASSES}
    out = []
    for env in sorted(table, key=lambda e: (not table[e][3], e)):
        labels, shown, desc, _ = table[env]
        used = "all" if labels >= everyone else ", ".join(x for x, _ in CLASSES if x in labels)
        out.append(f"| {env} | {used} | {f'`{shown}`' if shown else ''} | {desc} |")
    return out


if __name__ == "__main__":
    print("\n".join(rows()))
