"""The streaming v3 connection URL for an encounter: a pure function, every parameter explicit.

Parameter sets follow assemblyai-protocol.md §1.4 and §9.1: the U3 family (punctuation-based
turns, always formatted) takes no ``format_turns`` or ``end_of_turn_confidence_threshold``;
Universal-Streaming takes both (``format_turns=true`` unless the encounter says otherwise).
Booleans are lowercase, lists are one JSON-array parameter, absent values are left out.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared.contracts import SttSettings

ENCODING = "pcm_s16le"  # the capture agent always sends PCM16LE


def _bool(value: bool) -> str:
    return "true" if value else "false"


def streaming_params(stt: SttSettings) -> list[tuple[str, str]]:
    """The query parameters, in a stable order (tests compare them)."""
    params: list[tuple[str, str]] = [
        ("speech_model", stt.speech_model),
        ("sample_rate", str(stt.sample_rate)),
        ("encoding", ENCODING),
    ]
    if stt.domain:
        params.append(("domain", stt.domain))
    if stt.min_turn_silence is not None:
        params.append(("min_turn_silence", str(stt.min_turn_silence)))
    if stt.max_turn_silence is not None:
        params.append(("max_turn_silence", str(stt.max_turn_silence)))
    if stt.universal_streaming:
        fmt = True if stt.format_turns is None else stt.format_turns
        params.append(("format_turns", _bool(fmt)))
        if stt.end_of_turn_confidence_threshold is not None:
            params.append(
                ("end_of_turn_confidence_threshold", repr(stt.end_of_turn_confidence_threshold))
            )
        if stt.speech_model == "universal-streaming-multilingual":
            params.append(("language_detection", "true"))
    if stt.keyterms:
        params.append(("keyterms_prompt", json.dumps(list(stt.keyterms))))
    params.append(("speaker_labels", _bool(stt.speaker_labels)))
    if stt.speaker_labels and stt.max_speakers is not None:
        params.append(("max_speakers", str(stt.max_speakers)))
    return params


def build_streaming_url(base: str, stt: SttSettings) -> str:
    """``base`` (e.g. ``wss://streaming.assemblyai.com/v3/ws``) with the encounter's query."""
    parts = urlsplit(base)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError("the streaming URL must start with ws:// or wss://")
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k not in dict(streaming_params(stt))]
    query = urlencode(kept + streaming_params(stt))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/v3/ws", query, ""))


def formats_turns(stt: SttSettings) -> bool:
    """Whether finals of this encounter come formatted (U3 always; US when asked)."""
    if not stt.universal_streaming:
        return True
    return True if stt.format_turns is None else stt.format_turns
