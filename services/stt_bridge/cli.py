"""`medscribe stt-bridge`: command-line entry point (flags -> Settings -> service.run)."""

from __future__ import annotations

from shared.cli_util import not_yet


def stt_bridge() -> None:
    """Run the stt bridge service."""
    not_yet("medscribe stt-bridge")
