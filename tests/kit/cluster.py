"""Key spaces of the Redis Cluster tests."""

from __future__ import annotations

import uuid


def clinic_prefix(clinic: str) -> str:
    """A clinic's key space: one hash tag, so one slot (unique per test run)."""
    return f"ms:{{{clinic}-{uuid.uuid4().hex[:8]}}}:"
