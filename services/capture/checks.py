"""`medscribe capture --dry-run`: check the audio source, Redis and the spool, then exit."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile

import typer
from redis.exceptions import RedisError

from services.capture.config import CaptureSettings
from services.capture.live_view import level_dbfs, meter
from services.capture.recovery import leftover_spools
from services.capture.sources import AudioSource, WavFileSource
from services.capture.spool import spool_usage
from shared.contracts import StreamNames
from shared.private_files import private_dir
from shared.redis_acl import require_permissions
from shared.streams import make_redis


def _report(ok: bool, name: str, detail: str) -> bool:
    typer.echo(f"{'ok  ' if ok else 'FAIL'} {name:<8} {detail}")
    return ok


async def _check_source(source: AudioSource) -> bool:
    if isinstance(source, WavFileSource):
        return _report(True, "audio", f"{source.description}, {source.duration_s:.1f} s")
    if source.description.startswith("stdin"):
        return _report(True, "audio", source.description + " (not read in a dry run)")
    # Microphone: record one second and show its level, so a muted mic is caught now.
    frames: list[bytes] = []
    try:
        async with asyncio.timeout(5):
            async for pcm in source.frames():
                frames.append(pcm)
                if len(frames) >= 20:
                    break
    except TimeoutError:
        pass
    except Exception as err:  # noqa: BLE001 - reported, not raised
        return _report(False, "audio", f"{source.description}: {err}")
    finally:
        source.close()
    if not frames:
        return _report(False, "audio", f"{source.description}: no audio within 5 s")
    level = level_dbfs(b"".join(frames))
    quiet = " (very quiet: is the mic muted?)" if level < -70 else ""
    return _report(True, "audio", f"{source.description}: {level:.0f} dBFS [{meter(level)}]{quiet}")


async def _check_redis(settings: CaptureSettings, shown_url: str) -> bool:
    client = make_redis(settings.redis_url)
    try:
        async with asyncio.timeout(6):
            await client.ping()
        names = StreamNames(settings.stream_prefix)
        refused = await require_permissions(client, settings.acl_service, names, settings.redis_url)
        if refused is not None:
            return _report(False, "redis", f"{shown_url} answers, but {refused}")
        who = f"room {settings.credentials_room}'s user" if settings.credentials_room else "user"
        return _report(True, "redis", f"{shown_url} answers; its {who} may do what capture does")
    except (RedisError, OSError, TimeoutError) as err:
        return _report(
            False, "redis", f"{shown_url}: {type(err).__name__} (audio would be spooled)"
        )
    finally:
        with contextlib.suppress(RedisError, OSError):
            await client.aclose()


def _check_spool(settings: CaptureSettings) -> bool:
    try:
        private_dir(settings.spool_dir)
        with tempfile.NamedTemporaryFile(dir=settings.spool_dir):
            pass
    except OSError as err:
        return _report(False, "spool", f"{settings.spool_dir} is not writable ({err.strerror})")
    used = spool_usage(settings.spool_dir)
    left = leftover_spools(settings.spool_dir)
    share = used / settings.spool_budget_bytes
    detail = (
        f"{settings.spool_dir}: {used // 1024} KiB of {settings.spool_budget_bytes // 1024**2} MiB"
        f" used ({share:.0%}), {len(left)} encounter(s) waiting to be sent"
    )
    return _report(share < settings.spool_warn_ratio, "spool", detail)


async def dry_run(
    settings: CaptureSettings, source: AudioSource, keyterms: tuple[str, ...], shown_url: str
) -> bool:
    results = [
        await _check_source(source),
        await _check_redis(settings, shown_url),
        _check_spool(settings),
        _report(
            True,
            "config",
            f"room {settings.room}, speech model {settings.speech_model}, "
            f"{len(keyterms)} keyterm(s), models {', '.join(settings.llm_models)}",
        ),
    ]
    return all(results)
