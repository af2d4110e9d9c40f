"""Exam rooms' own Redis credentials: the one place room names and room encounter ids are
checked, and the ACL rules a room's Redis user gets (docs/architecture.md, "Rooms").

A room ``exam-3`` logs in as the Redis user ``room-exam-3``. Its encounter ids are
``exam-3.<time>-<random>``: room names may not contain ``.`` (nor any ACL glob character,
``{``/``}`` of a cluster hash tag, or upper case), so the key pattern ``ms:audio:exam-3.*``
matches exactly room exam-3's encounters and never ``exam-30``'s or ``exam-3-b``'s. The
room adds its control messages to its own stream ``ms:room:exam-3:control``; the notes
service's gate (services/notes/room_gate.py) checks each one and forwards it to
``ms:control``. The room reads back its own visit's partials and edited turns
(``ms:live:<encounter>``, copied by the editor) for the live view.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime

from shared.contracts import StreamNames
from shared.errors import MedscribeError

ROOM_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
# What follows "<room>." in a room's encounter id (total length stays within 64).
_SUFFIX_RE = re.compile(r"^[A-Za-z0-9_-]{1,31}$")
USER_PREFIX = "room-"
SEPARATOR = "."
# The notes service's gate may forward only these from a room's control stream.
ROOM_MESSAGE_TYPES = ("EncounterStarted", "EncounterStopped")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
# A visit's live stream (turn copies and the server's notices) keeps this many entries.
LIVE_MAXLEN = 500
# A live stream the server wrote a notice on (a refused visit has no row that would
# release it; an export may come after the release) is gone after this long.
NOTICE_TTL_S = 3600
# A room's one-time live-view link works this long (it is shown on the room's own screen).
LIVE_TICKET_TTL_S = 600
LIVE_TICKET_PREFIX = "rl_"
# A revoked room's control stream with entries still waiting is gone after this long.
RETIRE_TTL_S = 7 * 86400


class RoomNameError(ValueError, MedscribeError):
    """A room name or room encounter id that does not follow the rules (message names the
    rule, never anything but the offending name, which is not patient data)."""


def check_room(name: str) -> str:
    """``name`` when it is a valid room name; else :class:`RoomNameError`."""
    if not ROOM_RE.match(name):
        raise RoomNameError(
            f"room name {name[:40]!r} is not allowed: use 1-32 lower-case letters, digits and"
            " inner hyphens (e.g. exam-3); no dots, so no room's keys can match another's"
        )
    return name


def user_of(room: str) -> str:
    """The Redis user of ``room``."""
    return USER_PREFIX + check_room(room)


def room_of_user(user: str) -> str | None:
    """The room a Redis user name belongs to, or None for a service or admin user."""
    if not user.startswith(USER_PREFIX):
        return None
    room = user[len(USER_PREFIX) :]
    return room if ROOM_RE.match(room) else None


def new_encounter_id(room: str, now: datetime | None = None) -> str:
    """``<room>.<UTC time>-<random>``: unique, sortable, and bound to its room."""
    now = now or datetime.now(UTC)
    return f"{check_room(room)}{SEPARATOR}{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"


def room_of_encounter(encounter_id: str) -> str | None:
    """The room an encounter id belongs to, or None when it is not a room's id."""
    room, sep, suffix = encounter_id.partition(SEPARATOR)
    if not sep or not ROOM_RE.match(room) or not _SUFFIX_RE.match(suffix):
        return None
    return room


def in_room_keys(room: str, encounter_id: str) -> bool:
    """Whether ``encounter_id``'s keys fall inside ``room``'s ACL key patterns
    (``<prefix>live:<room>.*``): the gate may answer there and nowhere else."""
    return encounter_id.startswith(check_room(room) + SEPARATOR)


def control_stream(names: StreamNames, room: str) -> str:
    """The stream ``room`` adds its EncounterStarted/Stopped to (read by the gate)."""
    return names.key("room", check_room(room), "control")


def open_key(names: StreamNames, room: str) -> str:
    """The gate's set of ``room``'s started, not yet stopped encounters (the start cap)."""
    return names.key("room", check_room(room), "open")


def live_ticket_key(names: StreamNames, room: str, ticket_hash: str) -> str:
    """Where a room's agent leaves a one-time live-view ticket (by its SHA-256) for the
    console to redeem: under the room's own keys, so a room can issue tickets only for
    itself."""
    return names.key("room", check_room(room), "ticket", ticket_hash)


def ticket_hash(ticket: str) -> str:
    """What a live-view ticket is stored by (the ticket itself is only in the link)."""
    return hashlib.sha256(ticket.encode()).hexdigest()


def registry_key(names: StreamNames) -> str:
    """Hash of the rooms an admin added (room -> JSON), read by the gate."""
    return names.key("rooms")


def glob_escape(text: str) -> str:
    """``text`` matched literally in a Redis key pattern (ACL ``~pattern``, SCAN MATCH)."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


_glob = glob_escape


def acl_rules(names: StreamNames, room: str) -> list[str]:
    """The ACL rules (after ``reset``) of ``room``'s Redis user, as ACL SETUSER takes them.

    Everything a room does: XADD/XREVRANGE its own audio streams (the capture agent's
    exactly-once resend), XADD its control stream, XREAD/XREVRANGE its own visits'
    partials and edited-turn copies, SET a one-time live-view ticket for the room's
    browser under its own keys. Nothing else: no other key, no ms:control, no transcript
    stream, no admin command.
    """
    p = _glob(names.prefix)
    r = check_room(room) + SEPARATOR
    return [
        "resetkeys",
        "resetchannels",
        "-@all",
        "+@connection",
        "-@dangerous",
        "-select",  # keys of another database would be out of every service's sight
        "+multi",
        "+exec",  # the capture agent's batches are all-or-nothing
        "+discard",
        f"(+xadd +xrevrange %RW~{p}audio:{r}*)",
        f"(+xadd %W~{_glob(control_stream(names, room))})",
        f"(+set ~{p}room:{check_room(room)}:ticket:*)",
        f"(+xread +xrevrange %R~{p}partials:{r}* %R~{p}live:{r}*)",
    ]


def acl_line(names: StreamNames, room: str, password: str) -> str:
    """The users.acl line of ``room`` (password stored as its SHA-256)."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    return " ".join(["user", user_of(room), "on", f"#{digest}", *acl_rules(names, room)])
