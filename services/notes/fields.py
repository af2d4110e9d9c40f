"""Plain dicts of an object's attributes, for JSON answers and export files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def pick(
    obj: object, names: Iterable[str], convert: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    """``{name: obj.name}`` for each name, in the given order (JSON keeps it), each value
    passed through ``convert`` when given."""
    if convert is None:
        return {name: getattr(obj, name) for name in names}
    return {name: convert(getattr(obj, name)) for name in names}
