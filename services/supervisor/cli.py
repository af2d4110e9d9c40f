"""`medscribe demo` and `medscribe up`: run the whole pipeline as supervised processes."""

from __future__ import annotations

from shared.cli_util import not_yet


def demo() -> None:
    """Whole pipeline with simulators and a sample visit: no keys, no Docker."""
    not_yet("medscribe demo")


def up() -> None:
    """All clinic-server services against real AssemblyAI (ASSEMBLYAI_API_KEY)."""
    not_yet("medscribe up")
