"""Parameters per model as the service accepts them (issue 21, point 6): the simulator
refuses model/parameter pairs the service does not list, and the bridge never sends them."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlsplit

import pytest

from services.stt_bridge.url import build_streaming_url, unsupported_params
from shared.contracts import StreamNames, SttSettings
from simulators.stt_params import U3_MODELS, US_MODELS, ParamError, parse_query
from simulators.stt_server import SttSimulator
from tests.bridge.helpers import (
    bridge_settings,
    play_encounter,
    running_bridge,
    script_audio,
    script_turns,
    turns_of,
    wait_for_outcome,
)

BASE = "wss://streaming.assemblyai.com/v3/ws"
MODELS = sorted(U3_MODELS | US_MODELS)


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("whisper-rt", "domain=medical-v1"),
        ("whisper-rt", "keyterms_prompt=%5B%22metformin%22%5D"),
        ("whisper-rt", "speaker_labels=true"),
        ("universal-streaming-english", "prompt=cardiology+visit"),
        ("universal-streaming-english", "language_detection=true"),
        ("universal-streaming-multilingual", "prompt=x"),
    ],
)
def test_simulator_refuses_unlisted_pairs(model: str, query: str) -> None:
    with pytest.raises(ParamError, match="not supported for"):
        parse_query(f"speech_model={model}&{query}")


def test_simulator_accepts_listed_pairs() -> None:
    parse_query("speech_model=u3-rt-pro&domain=medical-v1&prompt=x&speaker_labels=true")
    parse_query("speech_model=universal-streaming-english&domain=medical-v1&speaker_labels=true")
    parse_query("speech_model=whisper-rt&speaker_labels=false")  # off is no request


@pytest.mark.parametrize(
    ("model", "domain", "labels", "keyterms"),
    list(itertools.product(MODELS, ["medical-v1", None], [True, False], [(), ("metformin",)])),
)
def test_every_bridge_url_is_accepted(
    model: str, domain: str | None, labels: bool, keyterms: tuple[str, ...]
) -> None:
    stt = SttSettings(speech_model=model, domain=domain, speaker_labels=labels, keyterms=keyterms)
    params = parse_query(urlsplit(build_streaming_url(BASE, stt)).query)
    assert params.speech_model == model
    if model in US_MODELS:
        assert params.end_of_turn_confidence_threshold == 0.6
        assert (params.min_turn_silence, params.max_turn_silence) == (400, 1280)  # not sent
    else:
        assert (params.min_turn_silence, params.max_turn_silence) == (800, 2000)
    dropped = unsupported_params(stt)
    assert params.domain == (None if "domain" in dropped else domain)


def test_unsupported_params_named() -> None:
    stt = SttSettings(speech_model="whisper-rt", speaker_labels=True, keyterms=("metformin",))
    assert unsupported_params(stt) == ["domain", "keyterms_prompt", "speaker_labels"]
    assert unsupported_params(SttSettings()) == []


async def test_whisper_rt_with_medical_mode_setting_still_transcribes(
    redis: Any, redis_url: str, names: StreamNames, sim: SttSimulator
) -> None:
    """The clinic's default domain=medical-v1 must not get whisper-rt sessions refused."""
    stt = SttSettings(speech_model="whisper-rt", domain="medical-v1", format_turns=False)
    script = script_turns([("doctor", "Any chest pain?"), ("patient", "No, none at all.")])
    async with running_bridge(bridge_settings(redis_url, names, sim.url)):
        await play_encounter(redis, names, "wh-1", script_audio(script), stt=stt)
        out = await wait_for_outcome(redis, names, ["wh-1"])
    assert type(out["wh-1"]).__name__ == "EncounterTranscribed"
    assert [t.text for t in await turns_of(redis, names, "wh-1")] == [
        "any chest pain",
        "no none at all",
    ]
    assert sim.stats.sessions_rejected == 0
    assert "domain" not in sim.sessions[-1].query
