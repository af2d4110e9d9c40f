"""Clinical safety checks: clinical terms, statement <-> turn alignment, the claim checker.

Pure functions (no I/O). Used by the editor's per-turn guard (``shared.guard``), the
notes service (evidence stored with each note version) and ``medscribe eval``.
"""

from shared.evidence.check import Finding, Severity, check_statement
from shared.evidence.statements import build_evidence, open_high_flags
from shared.evidence.terms import Support, Term, claims

__all__ = [
    "Finding",
    "Severity",
    "Support",
    "Term",
    "build_evidence",
    "check_statement",
    "claims",
    "open_high_flags",
]
