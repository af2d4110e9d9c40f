"""Issue 19: `medscribe capture` with a room's own credentials: the dry run checks the
room's rights on the production ACLs; another room's name is refused before recording."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import quote

from services.notes import room_admin
from shared.contracts import StreamNames
from shared.streams import make_redis
from simulators.codec import write_wav
from tests.helpers.acl import AclRedis
from tests.helpers.procs import medscribe_cmd, subprocess_env


async def test_dry_run_and_room_mismatch(acl_redis: AclRedis, tmp_path: Path) -> None:
    admin = make_redis(acl_redis.admin_url)
    try:
        _, password = await room_admin.add(admin, StreamNames("ms:"), "exam-3")
    finally:
        await admin.aclose()
    port = acl_redis.admin_url.rsplit(":", 1)[1].split("/")[0]
    url = f"redis://room-exam-3:{quote(password, safe='')}@127.0.0.1:{port}/0"
    wav = tmp_path / "v.wav"
    write_wav(wav, b"\0\0" * 16000)
    (tmp_path / "none.env").write_text("# none\n")
    env = subprocess_env(
        MEDSCRIBE_REDIS_URL=url, MEDSCRIBE_STREAM_PREFIX="ms:",
        MEDSCRIBE_CONFIG=str(tmp_path / "none.env"), MEDSCRIBE_SPOOL_DIR=str(tmp_path / "s"),
    )  # fmt: skip
    base = [*medscribe_cmd(), "capture", "--file", str(wav), "--dry-run"]
    ok = subprocess.run(base, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "room exam-3's user may do what capture does" in ok.stdout
    assert password not in ok.stdout + ok.stderr

    other = subprocess.run(
        [*base, "--room", "exam-30"], env=env, capture_output=True, text=True, timeout=60
    )
    assert other.returncode == 2
    assert "the Redis credentials are room 'exam-3'" in other.stderr
    assert password not in other.stdout + other.stderr
