"""`medscribe capture`: command-line entry point (flags -> Settings -> service.run)."""

from __future__ import annotations

from shared.cli_util import not_yet


def capture() -> None:
    """Run the capture service."""
    not_yet("medscribe capture")
