"""Endpoint URLs are checked when settings are built: a wrong scheme or a missing host is
refused at start with one line naming the variable, not found by an encounter failing
every 30 s (issue 23, step 3)."""

from __future__ import annotations

import subprocess

import pytest
from pydantic import ValidationError

from services.stt_bridge.config import BridgeSettings
from shared.config import ToolSettings
from tests.helpers.procs import medscribe_cmd, subprocess_env

GOOD = {
    "streaming_url": ["wss://streaming.assemblyai.com/v3/ws", "ws://127.0.0.1:9000"],
    "llm_gateway_url": ["https://llm-gateway.assemblyai.com", "http://127.0.0.1:8000/v1"],
    "redis_url": [
        "redis://127.0.0.1:6379/0",
        "rediss://bridge:secret@redis.clinic.lan:6380/0",
        "redis+cluster://10.0.0.5:7000",
        "unix:///run/redis/redis.sock",
    ],
}

BAD = [
    ("streaming_url", "https://streaming.assemblyai.com/v3/ws", "must start with wss:// or ws://"),
    ("streaming_url", "streaming.assemblyai.com/v3/ws", "no scheme"),
    ("streaming_url", "wss:///v3/ws", "names no host"),
    ("llm_gateway_url", "wss://llm-gateway.assemblyai.com", "must start with https://"),
    ("llm_gateway_url", "http://:80", "names no host"),
    ("redis_url", "http://127.0.0.1:6379", "must start with redis://"),
    ("redis_url", "redis://127.0.0.1:notaport/0", "not a URL"),
]


@pytest.mark.parametrize(("field", "url"), [(f, u) for f, us in GOOD.items() for u in us])
def test_good_urls_are_accepted(field: str, url: str) -> None:
    extra = {"stream_prefix": "ms:{clinic-a}:"} if "cluster" in url else {}
    s = ToolSettings(**{field: url}, **extra)  # type: ignore[arg-type]
    assert getattr(s, field) == url


@pytest.mark.parametrize(("field", "url", "says"), BAD)
def test_bad_urls_are_refused_with_the_reason(field: str, url: str, says: str) -> None:
    with pytest.raises(ValidationError) as err:
        ToolSettings(**{field: url})  # type: ignore[arg-type]
    msg = str(err.value)
    assert field in msg
    assert says in msg


def test_the_reason_never_shows_a_password() -> None:
    with pytest.raises(ValidationError) as err:
        BridgeSettings(redis_url="http://bridge:s3cr3t-pw@127.0.0.1:6379")
    errors = err.value.errors(include_url=False, include_input=False)
    assert "s3cr3t-pw" not in str(errors)
    assert errors[0]["loc"] == ("redis_url",)


def test_a_service_started_with_a_wrong_scheme_exits_with_one_line() -> None:
    env = {
        **subprocess_env(),
        "MEDSCRIBE_ASSEMBLYAI_API_KEY": "k",
        "MEDSCRIBE_STREAMING_URL": "https://streaming.assemblyai.com/v3/ws",
    }
    proc = subprocess.run(
        medscribe_cmd() + ["stt-bridge"], env=env, capture_output=True, timeout=60, check=False
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert err.startswith("medscribe: invalid setting STREAMING_URL (MEDSCRIBE_STREAMING_URL)")
    assert "must start with wss://" in err
    assert "Traceback" not in err
