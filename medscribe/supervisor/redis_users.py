"""`medscribe up`'s own Redis gets the compose deployment's security model: one ACL user per
service (the same deploy/users.acl, shipped in the package as ``users.acl``), rooms' own
users (`medscribe notes room add`), and no catch-all password.

The passwords live in ``<data>/redis/passwords.json`` (owner-only), made once and kept, so
room machines and restarts keep working. As deploy/redis-entrypoint.sh does, the ACL file is
rendered anew at each start with the passwords' SHA-256, `default` gets a hash nobody knows
the password of (Redis 7.0-7.4 replays the AOF as `default`: it must keep every right, and
no client can log in as it), and the rooms' lines Redis saved (ACL SAVE) are kept.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from shared.private_files import private_dir

TEMPLATE = Path(__file__).with_name("users.acl")
USERS = ("admin", "capture", "bridge", "editor", "notes")
# Which user each service process of `up` logs in as.
SERVICE_USERS = {"stt-bridge": "bridge", "editor": "editor", "notes": "notes", "migrate": "notes"}


@dataclass(frozen=True)
class RedisUsers:
    passwords: dict[str, str]
    aclfile: Path

    def url(self, user: str, port: int) -> str:
        return f"redis://{user}:{quote(self.passwords[user], safe='')}@127.0.0.1:{port}/0"


def _passwords(path: Path) -> dict[str, str]:
    known: dict[str, str] = {}
    if path.exists():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        known = {k: str(v) for k, v in loaded.items() if k in USERS and v}
    if set(known) != set(USERS):
        for user in USERS:
            known.setdefault(user, secrets.token_urlsafe(24))
        tmp = path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.chmod(0o600)
        tmp.write_text(json.dumps(known, indent=1), encoding="utf-8")
        tmp.replace(path)
    return known


def render(template: str, passwords: dict[str, str], previous: str = "") -> str:
    """The ACL file: service users from ``template``, rooms' users from ``previous``."""
    text = template
    for user, password in passwords.items():
        digest = hashlib.sha256(password.encode()).hexdigest()
        text = text.replace(f"${{MEDSCRIBE_REDIS_PASSWORD_{user.upper()}}}", digest)
    text = text.replace("${MEDSCRIBE_REDIS_DEFAULT_HASH}", secrets.token_hex(32))
    if "${" in text:
        raise ValueError("unrendered placeholder left in the Redis ACL template")
    rooms = [line for line in previous.splitlines() if line.startswith("user room-")]
    return text.rstrip("\n") + "\n" + "".join(f"{line}\n" for line in rooms)


def prepare(workdir: Path) -> RedisUsers:
    """Passwords (made once) and a freshly rendered ACL file under ``workdir``."""
    private_dir(workdir)
    passwords = _passwords(workdir / "passwords.json")
    aclfile = workdir / "users.acl"
    previous = aclfile.read_text(encoding="utf-8") if aclfile.exists() else ""
    tmp = workdir / "users.acl.tmp"
    tmp.touch(mode=0o600)
    tmp.chmod(0o600)
    tmp.write_text(render(TEMPLATE.read_text(encoding="utf-8"), passwords, previous))
    tmp.replace(aclfile)
    return RedisUsers(passwords, aclfile)
