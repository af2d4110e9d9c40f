"""Console passwords: what a clinician types to sign in, set by themselves after their
administrator's personal sign-in link (the invite), instead of a long sign-in key.

Stored as scrypt (Python's hashlib: memory-hard, no extra dependency) with a random salt per
password; the text itself is never stored or logged. A password belongs to one API token
row: revoking the token ends its password too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from shared.errors import MedscribeError

SCHEME = "scrypt"
N, R, P, DKLEN = 2**14, 8, 1, 32  # 16 MiB and ~50 ms per check: slow for a guesser
MIN_LENGTH = 12
MAX_LENGTH = 200  # scrypt takes any length; a bound keeps requests small


class PasswordRejected(MedscribeError, ValueError):
    """A password the policy refuses; the message says why (never the password)."""


def check_policy(password: str, name: str) -> None:
    """Long enough, not the account's name, not one repeated character (NIST 800-63B:
    length over composition rules)."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"Use at least {MIN_LENGTH} characters (a few words work well).")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"Use at most {MAX_LENGTH} characters.")
    if password.strip().lower() == name.strip().lower():
        raise PasswordRejected("Do not use your sign-in name as your password.")
    if len(set(password)) < 4:
        raise PasswordRejected("Use more different characters.")


def _derive(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=64 * 1024 * 1024
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64), parameters stored so they can be raised later."""
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, N, R, P, DKLEN)
    return "$".join((SCHEME, str(N), str(R), str(P), _b64(salt), _b64(digest)))


def verify(password: str, stored: str | None) -> bool:
    """Constant-time comparison; False for no stored password or an unreadable one."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        want = base64.b64decode(digest)
        got = _derive(password, base64.b64decode(salt), int(n), int(r), int(p), len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)
