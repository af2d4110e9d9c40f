"""A room machine installed as the README says: the wheel built on the clinic server,
installed with the `mic` extra into a fresh venv (no project checkout, no dev tools), its
configuration in ``~/.config/medscribe/capture.env``, then ``medscribe capture --dry-run``
against the clinic's Redis with the room's own credentials.

The dry run's output must be readable: one line per check, nothing from ALSA or JACK
(which write every sound card they probe and do not find to stderr)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.acl import AclRedis
from tests.helpers.procs import REPO_ROOT
from tests.rooms.room_fixtures import add_room

pytestmark = pytest.mark.install
NATIVE_NOISE = ("ALSA lib", "jack server", "JackShm", "Cannot connect to server")


def _source_copy(dest: Path) -> Path:
    """The checkout's files (tracked and new, not ignored) in ``dest``: building the wheel
    writes build/ and *.egg-info next to the sources, never into the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True,
    ).stdout.split("\n")  # fmt: skip
    for rel in filter(None, listed):
        src = REPO_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)  # type: ignore[call-overload,no-any-return]


@pytest.fixture(scope="module")
def room_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("room-install")
    src = _source_copy(base / "src")
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                  str(base / "dist"), str(src)])  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = list((base / "dist").glob("medscribe-*-py3-none-any.whl"))
    venv = base / "room"
    assert _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    installed = _run([str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[mic]"])
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


async def test_a_room_machine_installs_the_wheel_and_its_dry_run_reads_clearly(
    room_venv: Path, acl_redis: AclRedis, tmp_path: Path
) -> None:
    url = await add_room(acl_redis, "exam-3")
    home = tmp_path / "home"
    conf = home / ".config" / "medscribe"
    conf.mkdir(parents=True)
    (conf / "capture.env").write_text(
        f"MEDSCRIBE_ROOM=exam-3\nMEDSCRIBE_REDIS_URL={url}\n"
        f"MEDSCRIBE_SPOOL_DIR={tmp_path / 'spool'}\n"
    )
    env = {"PATH": f"{room_venv / 'bin'}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    # Run from outside any checkout: only the installed wheel can answer.
    done = _run(["medscribe", "capture", "--dry-run"], env=env, cwd=home)
    out = done.stdout + done.stderr
    assert not any(noise in out for noise in NATIVE_NOISE), out[:2000]
    lines = [ln for ln in done.stdout.splitlines() if ln.strip()]
    checks = {ln.split()[1]: ln.split()[0] for ln in lines}
    assert set(checks) == {"audio", "redis", "spool", "config"}, lines
    assert checks["redis"] == "ok", lines  # the room's own user may do what capture does
    assert checks["spool"] == "ok", lines
    assert checks["config"] == "ok", lines
    assert "exam-3" in next(ln for ln in lines if ln.split()[1] == "config")
    assert url.split("@")[0].split(":")[-1] not in out  # the room's password is not printed
    # A machine without a microphone (CI) is told so in one line and the run fails.
    assert done.returncode == (0 if checks["audio"] == "ok" else 1), out[-1000:]
    if checks["audio"] != "ok":
        assert "microphone" in next(ln for ln in lines if ln.split()[1] == "audio")
