"""Microphone source through PyAudio (optional extra ``mic``).

PortAudio delivers 800-sample blocks in its own thread; they cross into asyncio through a
bounded queue. If the event loop ever falls more than ``queue_frames`` behind, the oldest
frames are *not* silently dropped: the overflow is counted and reported as an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from services.capture.sources import FRAME_SAMPLES, MIC_INSTALL_HINT, SAMPLE_RATE, MicUnavailable
from shared.logging import get_logger

log = get_logger(__name__)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """While PortAudio starts or opens a device, ALSA and JACK write dozens of lines to the
    process's stderr (every card they probe and do not find) that bury the one line that
    matters, which we print ourselves from the error PortAudio returns. Those libraries
    write to file descriptor 2 directly, so that is what is pointed at /dev/null meanwhile."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (tests, embedded)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _pyaudio() -> Any:
    try:
        import pyaudio
    except ImportError:
        raise MicUnavailable(MIC_INSTALL_HINT) from None
    return pyaudio


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    default_rate: int


def list_devices() -> list[InputDevice]:
    """Input-capable devices as PortAudio sees them."""
    pa_mod = _pyaudio()
    with native_stderr_silenced():
        pa = pa_mod.PyAudio()
    try:
        out = []
        for i in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(i)
            if int(info.get("maxInputChannels", 0)) > 0:
                out.append(
                    InputDevice(
                        i,
                        str(info.get("name")),
                        int(info["maxInputChannels"]),
                        int(info.get("defaultSampleRate", 0)),
                    )
                )
        return out
    finally:
        with native_stderr_silenced():
            pa.terminate()


def pick_device(devices: list[InputDevice], wanted: str | None) -> InputDevice | None:
    """``wanted`` is an index or a (case-insensitive) part of a name; None = the default."""
    if wanted is None or wanted == "":
        return None
    if wanted.isdigit():
        for dev in devices:
            if dev.index == int(wanted):
                return dev
        raise MicUnavailable(f"no input device with index {wanted} (see --list-devices)")
    matches = [d for d in devices if wanted.lower() in d.name.lower()]
    if not matches:
        raise MicUnavailable(f"no input device named like {wanted!r} (see --list-devices)")
    return matches[0]


class MicSource:
    """16 kHz mono PCM16 frames of 50 ms from a microphone."""

    def __init__(self, device: str | None = None, queue_frames: int = 200) -> None:
        self._pa_mod = _pyaudio()
        self.device = pick_device(list_devices(), device)
        self.description = f"microphone {self.device.name if self.device else '(default)'}"
        self.queue_frames = queue_frames
        self.overflows = 0
        self._closed = False
        self._queue: asyncio.Queue[bytes | None] | None = None

    def close(self) -> None:
        self._closed = True

    async def frames(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(self.queue_frames)
        self._queue = queue

        # Blocks handed to the loop but not yet queued. A device that delivers faster than
        # real time (a stalled or broken driver) must not flood the event loop with
        # callbacks: past one queue's worth the block is counted as lost right here, so
        # the loop stays responsive (Ctrl-C still stops the visit).
        in_flight = [0]
        lock = threading.Lock()

        def deliver(data: bytes | None) -> None:
            with lock:
                in_flight[0] -= 1
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:
                with lock:
                    self.overflows += 1

        def callback(in_data: bytes, _count: int, _time: Any, _status: int) -> tuple[None, int]:
            with lock:
                if in_flight[0] >= self.queue_frames:
                    self.overflows += 1
                    return None, self._pa_mod.paContinue
                in_flight[0] += 1
            loop.call_soon_threadsafe(deliver, in_data)
            return None, self._pa_mod.paContinue

        with native_stderr_silenced():
            pa = self._pa_mod.PyAudio()
        try:
            with native_stderr_silenced():
                stream = pa.open(
                    format=self._pa_mod.paInt16,
                    channels=1,
                    rate=SAMPLE_RATE,
                    input=True,
                    frames_per_buffer=FRAME_SAMPLES,
                    input_device_index=self.device.index if self.device else None,
                    stream_callback=callback,
                )
        except OSError as err:
            with native_stderr_silenced():
                pa.terminate()
            raise MicUnavailable(f"cannot open the microphone: {err}") from None
        reported = 0
        try:
            stream.start_stream()
            while not self._closed:
                try:
                    data = await asyncio.wait_for(queue.get(), timeout=0.5)
                except TimeoutError:
                    continue
                if data is None:
                    return
                if self.overflows != reported:  # never hide lost audio
                    log.error("mic_overflow_audio_dropped", frames=self.overflows - reported)
                    reported = self.overflows
                yield data
        finally:
            with contextlib.suppress(OSError):
                stream.stop_stream()
                stream.close()
            pa.terminate()
