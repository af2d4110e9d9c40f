"""Issue 19, left item 4: the room's live view ends with the export folder the SERVER
used. A visit recorded with a room's credentials goes through the real notes service (its
gate, consumers and scheduler, as the `notes` user of the production ACLs); the test plays
the bridge. The notes service tells the room where it wrote the files on the visit's live
stream, and the capture agent, waiting a bounded time once its audio is in, prints that
folder, not the room machine's configured guess."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import redis as sync_redis
from pydantic import SecretStr

from services.capture.config import CaptureSettings
from services.capture.live_view import PlainView
from services.capture.service import run as capture
from services.capture.sources import WavFileSource
from services.notes.db.engine import Database
from services.notes.db.migrate import upgrade_async
from services.notes.room_gate import RoomGate
from services.notes.service import NotesRuntime
from shared.contracts import (
    EditedTurn,
    EncounterStopped,
    EncounterTranscribed,
    decode_control,
    encode,
)
from shared.gateway import GatewayClient
from shared.streams import make_redis
from tests.helpers.acl import AclRedis
from tests.helpers.procs import free_port
from tests.kit.waiting import eventually
from tests.rooms.room_fixtures import N, add_room, gate_settings
from tests.rooms.test_room_refused_capture import noise_wav


async def play_bridge(admin: sync_redis.Redis) -> str:
    """When the room's stop reaches ms:control (through the gate): the visit's one turn."""
    while True:
        for _, fields in admin.xrange(N.control):
            msg = decode_control(fields)
            if isinstance(msg, EncounterStopped):
                enc = msg.encounter_id
                turn = EditedTurn(
                    encounter_id=enc, seq=0, stt_session_id="s", turn_order=0,
                    text="hello there", start_ms=0, end_ms=900, speaker="A",
                    edited_text="Hello there.", edit_status="edited", llm_model="m",
                )  # fmt: skip
                admin.xadd(N.edited, encode(turn))  # type: ignore[arg-type]
                done = EncounterTranscribed(encounter_id=enc, turn_count=1, audio_ms=900)
                admin.xadd(N.control, encode(done))  # type: ignore[arg-type]
                return enc
        await asyncio.sleep(0.05)


async def test_the_live_view_ends_with_the_servers_export_folder(
    acl_redis: AclRedis, tmp_path: Path
) -> None:
    url = await add_room(acl_redis, "exam-3")
    server_exports = tmp_path / "server" / "exports"
    settings = gate_settings(
        acl_redis, tmp_path, export_dir=server_exports, scheduler_poll_s=0.1, timezone="UTC"
    )
    await upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    notes_redis = make_redis(settings.redis_url)
    room_redis = make_redis(url, retry=False)
    admin = sync_redis.Redis.from_url(acl_redis.admin_url)
    stop = asyncio.Event()
    out = io.StringIO()
    # No LLM: the transcript's files are written before any note is asked for, and the
    # note's failing fast keeps the test light (no evidence checks loading).
    gateway = GatewayClient(
        f"http://127.0.0.1:{free_port()}", SecretStr("k"), timeout=2.0, max_attempts=1
    )
    rt = NotesRuntime(settings, db, notes_redis, gateway)
    parts = [r.run(stop) for r in rt.readers()]
    parts += [
        rt.scheduler().run(stop, rt.wake, rt.due),
        RoomGate(settings, notes_redis, rt.metrics).run(stop),
    ]
    service = [asyncio.create_task(p) for p in parts]
    bridge = asyncio.create_task(play_bridge(admin))
    try:
        await eventually(
            lambda: admin.exists("ms:room:exam-3:control"), timeout=60, what="the gate reading"
        )
        room_settings = CaptureSettings(
            _env_file=None, redis_url=url, stream_prefix="ms:", room="exam-3",
            spool_dir=tmp_path / "spool", export_wait_s=120,
            export_dir="/where/the/room/thinks",
        )  # type: ignore[call-arg]  # fmt: skip
        source = WavFileSource(noise_wav(tmp_path / "v.wav", 2.0), None)
        result = await asyncio.wait_for(
            capture(room_settings, source, room_redis, llm_model="m", view=PlainView(out)),
            180,
        )
        enc = await asyncio.wait_for(bridge, 30)
    finally:
        bridge.cancel()
        stop.set()
        await asyncio.wait_for(asyncio.gather(*service, return_exceptions=True), 60)
        await gateway.aclose()
        await notes_redis.aclose()
        await room_redis.aclose()
        admin.close()
        await db.dispose()
    assert result.encounter_id == enc
    assert result.delivered
    assert result.export_dir == str(server_exports / enc)
    assert (server_exports / enc).is_dir()  # the folder really is the server's
    lines = out.getvalue().rstrip().splitlines()
    assert lines[-2].endswith(f"Visit page: http://127.0.0.1:8080/encounters/{enc}")
    assert lines[-1].endswith(f"Files on the clinic server: {server_exports / enc}")
    assert "/where/the/room/thinks" not in out.getvalue()
