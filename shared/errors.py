"""The one base of medscribe's PHI-safe exceptions.

A :class:`MedscribeError`'s message holds no PHI: ids, counts, classes, reason codes and
status codes only; never transcript or note text, never a key or password. That is what
lets it be logged and shown as is (``shared.logging`` prints an exception's message only
when its class says ``phi_safe``), where any other exception is shown by class name only.
"""

from __future__ import annotations


class MedscribeError(Exception):
    """Base of errors whose message may be logged and shown: it holds no PHI (ids,
    counts, classes and status codes only)."""

    # Read by shared.logging (and the capture view) rather than an isinstance check, so a
    # class that cannot derive from this base (a framework's own exception) can opt in too.
    phi_safe = True
