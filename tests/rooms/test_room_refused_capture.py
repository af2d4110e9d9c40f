"""Issue 19, left item 1: a start the gate refuses (the room's cap) or a room revoked
mid-visit reaches the room's capture agent at once: it prints one clear line (no patient
data), stops, keeps the visit's audio on the machine (out of the resend queue) and exits
non-zero; nothing of the refused visit goes on to ms:control."""

from __future__ import annotations

import asyncio
import io
import subprocess
import wave
from pathlib import Path

import numpy as np
import redis as sync_redis

from services.capture.config import CaptureSettings
from services.capture.live_view import PlainView
from services.capture.service import run
from services.capture.sources import WavFileSource
from services.notes import room_admin
from shared import rooms
from shared.contracts import EncounterStarted, decode_control, encode
from shared.streams import make_redis
from tests.helpers.acl import AclRedis
from tests.helpers.procs import medscribe_cmd, subprocess_env
from tests.kit.waiting import eventually
from tests.rooms.room_fixtures import N, add_room, gate_settings, running_gate


def noise_wav(path: Path, seconds: float) -> Path:
    rng = np.random.default_rng(3)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(rng.integers(-9000, 9000, int(seconds * 16000)).astype("<i2").tobytes())
    return path


def wav_frames(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        return w.getnframes()


def control_of(admin: sync_redis.Redis, enc_prefix: str) -> list[str]:
    out = []
    for _, fields in admin.xrange(N.control):
        msg = decode_control(fields)
        if msg.encounter_id.startswith(enc_prefix):
            out.append(f"{type(msg).__name__} {msg.encounter_id}")
    return out


async def test_a_start_over_the_rooms_cap_stops_the_agent(
    acl_redis: AclRedis, tmp_path: Path
) -> None:
    url = await add_room(acl_redis, "exam-3")
    admin = sync_redis.Redis.from_url(acl_redis.admin_url)
    spool = tmp_path / "spool"
    try:
        async with running_gate(gate_settings(acl_redis, tmp_path, room_max_open=1)):
            # another visit of the room is open: the cap of 1 is taken
            room = sync_redis.Redis.from_url(url)
            first = rooms.new_encounter_id("exam-3")
            start = EncounterStarted(encounter_id=first, room="exam-3", llm_model="m")
            room.xadd(rooms.control_stream(N, "exam-3"), encode(start))  # type: ignore[arg-type]
            room.close()
            await eventually(
                lambda: admin.xlen(N.control) == 1, timeout=60, what="the first visit admitted"
            )
            (tmp_path / "none.env").write_text("# none\n")
            env = subprocess_env(
                MEDSCRIBE_REDIS_URL=url, MEDSCRIBE_STREAM_PREFIX="ms:",
                MEDSCRIBE_CONFIG=str(tmp_path / "none.env"), MEDSCRIBE_SPOOL_DIR=str(spool),
            )  # fmt: skip
            wav = noise_wav(tmp_path / "visit.wav", 120.0)  # real time: ends only if refused
            proc = await asyncio.create_subprocess_exec(
                *medscribe_cmd(), "capture", "--file", str(wav), "--llm-model", "m",
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            out_b, err_b = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        admin.close()
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 3, out + err
    line = "visit NOT started, no note will be written: this room already has the most visits"
    assert line in out
    assert out.count("NOT started") == 1  # one line, not repeated in the summary
    refused = list((spool / "refused").iterdir())
    assert len(refused) == 1
    enc = refused[0].name
    assert rooms.room_of_encounter(enc) == "exam-3"
    assert f"{refused[0]}/audio.wav" in out
    assert 0 < wav_frames(refused[0] / "audio.wav") < 120 * 16000
    assert not [p for p in spool.iterdir() if p.name != "refused"]  # not queued for resend
    with sync_redis.Redis.from_url(acl_redis.admin_url) as check:
        assert control_of(check, "exam-3.") == [f"EncounterStarted {first}"]
    assert url.split("@")[0].split(":")[-1] not in out + err  # no password shown


async def test_a_room_revoked_mid_visit_stops_the_agent(
    acl_redis: AclRedis, tmp_path: Path
) -> None:
    url = await add_room(acl_redis, "exam-3")
    settings = CaptureSettings(
        _env_file=None, redis_url=url, stream_prefix="ms:", room="exam-3",
        spool_dir=tmp_path / "spool",
    )  # type: ignore[call-arg]  # fmt: skip
    out = io.StringIO()
    redis = make_redis(url, retry=False)
    admin = make_redis(acl_redis.admin_url)
    try:
        async with running_gate(gate_settings(acl_redis, tmp_path)):
            source = WavFileSource(noise_wav(tmp_path / "v.wav", 120.0), 1.0)
            visit = asyncio.create_task(
                run(settings, source, redis, llm_model="m", view=PlainView(out), stop_timeout=5)
            )

            async def recording() -> bool:
                return int(await admin.xlen(N.control)) == 1 and bool(
                    [k async for k in admin.scan_iter(match="ms:audio:exam-3.*")]
                )

            await eventually(recording, timeout=60, what="the visit admitted and recording")
            await room_admin.revoke(admin, N, "exam-3")
            result = await asyncio.wait_for(visit, 60)
    finally:
        await redis.aclose()
        await admin.aclose()
    assert result.stop_reason == "refused"
    assert result.refused == "room_revoked"
    assert not result.delivered
    text = out.getvalue()
    assert "recording STOPPED: this room's credentials were revoked" in text
    assert result.kept_in is not None
    assert wav_frames(Path(result.kept_in, "audio.wav")) > 0  # what never reached Redis
