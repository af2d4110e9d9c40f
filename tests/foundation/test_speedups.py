"""The C accelerators the bridge's hot path relies on (issue 22) are installed and in use:
a pure-Python fallback would still work, only several times slower, so nothing else would
notice it."""

from __future__ import annotations

import inspect


def test_websockets_masks_frames_in_c() -> None:
    from websockets import frames

    # Every client frame is masked (XOR over its payload): 20 audio messages/s per room.
    assert inspect.isbuiltin(frames.apply_mask)


def test_redis_parses_replies_with_hiredis() -> None:
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE


def test_uvloop_is_installed() -> None:
    import uvloop

    assert callable(uvloop.new_event_loop)
