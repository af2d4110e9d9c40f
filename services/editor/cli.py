"""`medscribe editor`: command-line entry point (flags -> Settings -> service.run)."""

from __future__ import annotations

from shared.cli_util import not_yet


def editor() -> None:
    """Run the editor service."""
    not_yet("medscribe editor")
