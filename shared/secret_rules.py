"""Start-up rules for deployment passwords: no placeholder, none short, none reused.

A clinic that forgets to edit ``.env`` must not run with ``change-me`` (a known admin
password). Messages name the variable and the rule, never the password.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

MIN_LENGTH = 16
# Values that example files, tutorials and tired people use.
PLACEHOLDERS = frozenset(
    {"change-me", "changeme", "change_me", "password", "secret", "example", "redis",
     "postgres", "medscribe", "admin", "default", "test"}
)  # fmt: skip


def password_problem(value: str) -> str | None:
    """Why ``value`` may not be a deployment password, or None."""
    if value.strip().lower() in PLACEHOLDERS or "change-me" in value.lower():
        return "is a placeholder; generate one with: openssl rand -hex 24"
    if len(value) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters; generate one with: openssl rand -hex 24"
    if len(set(value)) < 6:
        return "is not random (too few different characters)"
    return None


def url_password(url: str) -> str | None:
    """The password in a ``scheme://user:password@host`` URL (None when it has none)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def check_passwords(named: dict[str, str | None]) -> list[str]:
    """One line per problem among the given ``{variable: password}`` (None: not set)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for variable, value in named.items():
        if not value:
            continue
        why = password_problem(value)
        if why is not None:
            problems.append(f"{variable}: the password {why}")
        elif value in seen:
            problems.append(
                f"{variable}: the password is the same as {seen[value]}'s; use one per service"
            )
        seen.setdefault(value, variable)
    return problems
