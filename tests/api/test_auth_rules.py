"""Token format, hashing and the token-spec rules (pure functions, no I/O)."""

from __future__ import annotations

import re

import pytest

from services.notes.auth import (
    Action,
    Principal,
    Role,
    allowed,
    check_token_spec,
    hash_token,
    looks_like_token,
    may_access,
    new_token,
    owns,
)


def test_tokens_are_random_prefixed_and_hashed() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert re.fullmatch(r"ms_[A-Za-z0-9_-]{43}", token)
        assert looks_like_token(token)
        digest = hash_token(token)
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
        assert token not in digest
    assert not looks_like_token("ms_short")
    assert not looks_like_token("xx_" + "a" * 43)
    assert not looks_like_token("ms_" + "a" * 42 + "!")


@pytest.mark.parametrize(
    ("name", "role", "clinician", "error"),
    [
        ("dr-lee", "clinician", "dr-a", None),
        ("ehr.sync@clinic", "staff", None, None),
        ("a", "admin", None, None),
        ("audit-1", "auditor", None, None),
        ("", "staff", None, "token name"),
        ("-leading", "staff", None, "token name"),
        ("x" * 101, "staff", None, "token name"),
        ("has space", "staff", None, "token name"),
        ("ok", "root", None, "role must be one of: clinician, staff, admin, auditor"),
        ("ok", "clinician", None, "needs --clinician"),
        ("ok", "clinician", "bad id!", "clinician id must be"),
        ("ok", "staff", "dr-a", "only clinician tokens"),
    ],
)
def test_token_spec(name: str, role: str, clinician: str | None, error: str | None) -> None:
    if error is None:
        assert check_token_spec(name, role, clinician) is Role(role)
    else:
        with pytest.raises(ValueError, match=re.escape(error)):
            check_token_spec(name, role, clinician)


def test_ownership_limits_only_clinicians() -> None:
    dr_a = Principal(1, "a", Role.CLINICIAN, "dr-a")
    no_id = Principal(2, "b", Role.CLINICIAN, None)
    staff = Principal(3, "s", Role.STAFF)
    assert owns(dr_a, "dr-a")
    assert not owns(dr_a, "dr-b")
    assert not owns(dr_a, None)  # unassigned encounters are not any clinician's
    assert not owns(no_id, None)
    assert owns(staff, "dr-b")
    assert may_access(dr_a, Action.NOTE_SIGN, "dr-a")
    assert not may_access(staff, Action.NOTE_SIGN, "dr-a")
    assert not allowed(Principal(4, "x", Role.AUDITOR), Action.ENCOUNTER_READ)
    assert allowed(Principal(4, "x", Role.AUDITOR), Action.AUDIT_READ)
