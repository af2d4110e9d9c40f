"""Choosing the LLM model for a visit: an arrow-key menu on a terminal, never a block.

As in the original guide, ``simple-term-menu`` draws the menu. ``--llm-model`` (or
``MEDSCRIBE_LLM_MODEL``) skips it; a run without a terminal takes the first configured
model and says so. Each line shows the model's human name and what it is good for (the
guide's menu), then its id; Esc leaves without recording anything and exits 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared.errors import MedscribeError
from shared.llm_models import menu_entry


class MenuCancelled(MedscribeError):
    """The user left the menu (Esc, q or Ctrl+C) without choosing."""


def _terminal_menu(options: Sequence[str], title: str) -> int | None:
    from simple_term_menu import TerminalMenu

    menu: Any = TerminalMenu(
        list(options), title=title, cursor_index=0, raise_error_on_interrupt=False
    )
    chosen = menu.show()
    return chosen if isinstance(chosen, int) else None


def choose_model(
    models: Sequence[str],
    preselected: str | None,
    interactive: bool,
    show_menu: Callable[[Sequence[str], str], int | None] = _terminal_menu,
    labels: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Return ``(model, how)`` where ``how`` is "flag", "menu" or "default"."""
    if preselected:
        return preselected, "flag"
    if not models:
        raise ValueError("no LLM models configured (MEDSCRIBE_LLM_MODELS)")
    if not interactive or len(models) == 1:
        return models[0], "default"
    title = "LLM model for this visit (arrow keys, Enter to choose, Esc to cancel)"
    try:
        chosen = show_menu([menu_entry(m, labels or {}) for m in models], title)
    except OSError:  # a terminal without /dev/tty (e.g. some IDE consoles): no menu
        return models[0], "default"
    if chosen is None:
        raise MenuCancelled("no model chosen; nothing was recorded")
    return models[chosen], "menu"
