"""API tokens and the role rules of the staff API.

A token is ``ms_`` followed by 32 random bytes (url-safe base64). It is shown once, when it
is created; the database keeps only its SHA-256, so a stolen database does not give access.

Roles (issue 9):
- ``clinician``: their own encounters (``encounters.clinician == token.clinician_id``):
  read, edit (drafts too), sign, add addenda, correct speakers, regenerate, have the
  patient's after-visit summary written;
- ``staff``: read every encounter (after-visit summaries too, to print them);
- ``admin``: tokens, the audit log and reading every encounter; may have a note written
  again, but never edits or signs one: a note is the clinician's (separation of duties,
  issue 20; an admin-made clinician token is audited as token.create);
- ``auditor``: the audit log only.

The rules are pure functions here so that the API, the CLI and the role-matrix test share
one definition.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

TOKEN_PREFIX = "ms_"
TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters of [A-Za-z0-9_-] (no padding).
_TOKEN_RE = re.compile(r"^ms_[A-Za-z0-9_-]{43}$")
TOKEN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
CLINICIAN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,99}$")


class Role(StrEnum):
    CLINICIAN = "clinician"
    STAFF = "staff"
    ADMIN = "admin"
    AUDITOR = "auditor"


class Action(StrEnum):
    """What a request does; also the ``action`` column of the audit log."""

    ENCOUNTER_LIST = "encounter.list"
    ENCOUNTER_READ = "encounter.read"
    TRANSCRIPT_READ = "transcript.read"
    NOTE_READ = "note.read"
    NOTE_HISTORY = "note.history"
    NOTE_UPDATE = "note.update"
    NOTE_SIGN = "note.sign"
    NOTE_REGENERATE = "note.regenerate"
    # Dated text appended to a signed note by its clinician (the signed text stays).
    NOTE_ADDENDUM = "note.addendum"
    # The clinician's unsaved edit, kept on the server as they type.
    NOTE_DRAFT = "note.draft"
    # Correcting who said what: swap the speakers, or one turn's role.
    SPEAKERS_EDIT = "speakers.edit"
    # The patient's after-visit summary of a signed note: written on request, then read.
    SUMMARY_WRITE = "summary.write"
    SUMMARY_READ = "summary.read"
    LIVE_FOLLOW = "live.follow"
    EXPORT_FHIR = "export.fhir"
    AUDIT_READ = "audit.read"
    TOKEN_CREATE = "token.create"
    TOKEN_LIST = "token.list"
    TOKEN_REVOKE = "token.revoke"
    # Removing one encounter's patient data on request (admin only; the audit row stays).
    ENCOUNTER_PURGE = "encounter.purge"
    # A clinician takes a visit that was recorded without one.
    ENCOUNTER_CLAIM = "encounter.claim"
    # The front desk's room schedule: the next patient (and clinician) of each room.
    ROOM_ASSIGN = "room.assign"
    ROOM_SCHEDULE = "room.schedule"
    # Exam rooms' own Redis credentials (issue 19): admins only.
    ROOM_CREDENTIALS_LIST = "room.credentials.list"
    ROOM_CREDENTIALS_ADD = "room.credentials.add"
    ROOM_CREDENTIALS_REVOKE = "room.credentials.revoke"
    # The web console's sessions (who signed in and out, and when).
    CONSOLE_SIGNIN = "console.signin"
    CONSOLE_SIGNOUT = "console.signout"
    # The owner of a token set or changed their console password.
    CONSOLE_PASSWORD_SET = "console.password_set"
    # A request with a bad, revoked or ended credential (token, console session, ticket).
    AUTH_FAILED = "auth.failed"


# Actions on one encounter's patient data (subject to the clinician ownership rule).
READ_ACTIONS = frozenset(
    {
        Action.ENCOUNTER_LIST,
        Action.ENCOUNTER_READ,
        Action.TRANSCRIPT_READ,
        Action.NOTE_READ,
        Action.NOTE_HISTORY,
        Action.LIVE_FOLLOW,
        Action.EXPORT_FHIR,
        Action.SUMMARY_READ,
    }
)
# What only the encounter's clinician does: the content of the note and its signature.
NOTE_AUTHORING = frozenset(
    {
        Action.NOTE_UPDATE,
        Action.NOTE_SIGN,
        Action.NOTE_ADDENDUM,
        Action.NOTE_DRAFT,
        Action.SPEAKERS_EDIT,
    }
)
WRITE_ACTIONS = NOTE_AUTHORING | {Action.NOTE_REGENERATE, Action.SUMMARY_WRITE}
TOKEN_ACTIONS = frozenset({Action.TOKEN_CREATE, Action.TOKEN_LIST, Action.TOKEN_REVOKE})

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.CLINICIAN: READ_ACTIONS | WRITE_ACTIONS | {Action.ENCOUNTER_CLAIM, Action.ROOM_SCHEDULE},
    Role.STAFF: READ_ACTIONS | {Action.ROOM_ASSIGN, Action.ROOM_SCHEDULE},
    Role.ADMIN: frozenset(Action) - NOTE_AUTHORING,
    Role.AUDITOR: frozenset({Action.AUDIT_READ}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's identity (never the token itself)."""

    token_id: int
    name: str
    role: Role
    clinician_id: str | None = None


def new_token() -> str:
    """A fresh random API token (to be shown once and stored only as its hash)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: what the database stores and looks up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(value: str) -> bool:
    """Cheap shape check before any database lookup."""
    return bool(_TOKEN_RE.match(value))


def allowed(principal: Principal, action: Action) -> bool:
    """May this role perform the action at all (ignoring whose encounter it is)?"""
    return action in ROLE_ACTIONS[principal.role]


def owns(principal: Principal, encounter_clinician: str | None) -> bool:
    """Is the encounter within the principal's reach? Only clinicians are limited."""
    if principal.role is not Role.CLINICIAN:
        return True
    return principal.clinician_id is not None and encounter_clinician == principal.clinician_id


def may_access(principal: Principal, action: Action, encounter_clinician: str | None) -> bool:
    """The whole rule for an action on one encounter."""
    return allowed(principal, action) and owns(principal, encounter_clinician)


def check_token_spec(name: str, role: str, clinician_id: str | None) -> Role:
    """Validate a new token's name, role and clinician; ValueError with a clear message."""
    if not TOKEN_NAME_RE.match(name):
        raise ValueError(
            "token name must be 1-100 characters of letters, digits and _ . @ -, "
            "starting with a letter or digit"
        )
    try:
        parsed = Role(role)
    except ValueError:
        raise ValueError(f"role must be one of: {', '.join(r.value for r in Role)}") from None
    if parsed is Role.CLINICIAN:
        if not clinician_id:
            raise ValueError("a clinician token needs --clinician (the clinician's id)")
        if not CLINICIAN_ID_RE.match(clinician_id):
            raise ValueError(
                "clinician id must be 1-100 characters of letters, digits and _ . @ : -"
            )
    elif clinician_id:
        raise ValueError("only clinician tokens carry a clinician id")
    return parsed
