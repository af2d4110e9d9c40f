"""A private redis-server loaded with the production ACL file (deploy/users.acl).

The template is rendered as deploy/redis-entrypoint.sh does (each password placeholder
becomes the password's SHA-256), so tests log in exactly as the deployed services do.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tests.helpers.procs import RedisServer

REPO_ROOT = Path(__file__).resolve().parents[2]
ACL_TEMPLATE = REPO_ROOT / "deploy" / "users.acl"
PLACEHOLDER = re.compile(r"\$\{MEDSCRIBE_REDIS_PASSWORD_([A-Z]+)\}")
# The production ACLs name keys under the production prefix: tests against them use it.
PROD_PREFIX = "ms:"


def render_acl(template: str, passwords: dict[str, str]) -> str:
    """``template`` with each placeholder replaced by the SHA-256 of that user's password."""

    def sub(match: re.Match[str]) -> str:
        password = passwords[match.group(1).lower()]
        return hashlib.sha256(password.encode()).hexdigest()

    # `default`: a random hash nobody knows the password of (deploy/redis-entrypoint.sh).
    rendered = PLACEHOLDER.sub(sub, template)
    return rendered.replace("${MEDSCRIBE_REDIS_DEFAULT_HASH}", secrets.token_hex(32))


def acl_users(template: str) -> list[str]:
    return [line.split()[1] for line in template.splitlines() if line.startswith("user ")]


@dataclass
class AclRedis:
    """A redis-server running the production ACL file; ``url(user)`` logs in as ``user``."""

    workdir: Path
    passwords: dict[str, str] = field(default_factory=dict)
    server: RedisServer | None = None

    def start(self) -> None:
        template = ACL_TEMPLATE.read_text()
        self.passwords = {
            m.lower(): secrets.token_urlsafe(16) for m in PLACEHOLDER.findall(template)
        }
        self.workdir.mkdir(parents=True, exist_ok=True)
        aclfile = self.workdir / "users.acl"
        aclfile.write_text(render_acl(template, self.passwords))
        aclfile.chmod(0o600)
        self.server = RedisServer(self.workdir / "data", extra_args=("--aclfile", str(aclfile)))
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def url(self, user: str) -> str:
        assert self.server is not None
        if user == "default":
            return self.server.url
        password = quote(self.passwords[user], safe="")
        return f"redis://{user}:{password}@127.0.0.1:{self.server.port}/0"

    @property
    def admin_url(self) -> str:
        return self.url("admin")
