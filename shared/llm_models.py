"""The LLM models a clinician picks from: human names and one-line descriptions for the
menu, as the original guide showed them, for current Gateway ids only.

Retired or never-listed ids (the guide's own menu had two: ``claude-3-5-haiku-20241022``
was never in the Gateway list, ``claude-3-haiku-20240307`` retired 2026-04-20) are refused
with a clear error instead of failing every edit on the first real visit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# Claude and Gemini only: zero data retention under AssemblyAI's BAA (protocol §8).
MODEL_LABELS: Mapping[str, tuple[str, str]] = {
    "claude-sonnet-4-6": ("Claude Sonnet 4.6", "balanced: careful edits, good notes"),
    "claude-haiku-4-5-20251001": ("Claude Haiku 4.5", "fastest Claude, lowest cost"),
    "claude-opus-4-6": ("Claude Opus 4.6", "most capable Claude, slowest"),
    "claude-sonnet-4-5-20250929": ("Claude Sonnet 4.5", "previous balanced Claude"),
    "gemini-2.5-flash": ("Gemini 2.5 Flash", "fast Google model"),
    "gemini-2.5-flash-lite": ("Gemini 2.5 Flash-Lite", "fastest, for short visits"),
    "gemini-2.5-pro": ("Gemini 2.5 Pro", "most capable Google model"),
}

RETIRED_MODELS: Mapping[str, str] = {
    "claude-3-haiku-20240307": "retired on 2026-04-20",
    "claude-3-5-haiku-20241022": "not offered by the LLM Gateway",
    "claude-3-5-sonnet-20241022": "not offered by the LLM Gateway",
}


def check_current(models: Sequence[str]) -> None:
    """Raise ValueError naming the first id that cannot work (retired or never listed)."""
    for model in models:
        if model in RETIRED_MODELS:
            raise ValueError(f"LLM model {model} is {RETIRED_MODELS[model]}; pick a current one")


def menu_entry(model: str, labels: Mapping[str, str]) -> str:
    """One menu line: configured label, else the built-in name and description; the id last,
    so the clinic's IT can match it to the logs."""
    if model in labels:
        return f"{labels[model]}  [{model}]"
    if model in MODEL_LABELS:
        name, description = MODEL_LABELS[model]
        return f"{name} - {description}  [{model}]"
    return model
