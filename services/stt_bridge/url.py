"""The streaming v3 connection URL for an encounter: a pure function, every parameter explicit.

Parameter sets per model, as the service documents them (assemblyai-protocol.md §1.4, §9.1
and the medical-scribe guide):

* U3 family (punctuation-based turns, always formatted): ``min_turn_silence`` and
  ``max_turn_silence``; no ``format_turns`` or ``end_of_turn_confidence_threshold``.
* Universal-Streaming: ``format_turns`` (true unless the encounter says otherwise) and the
  end-of-turn confidence threshold (the guide's 0.6 unless set) instead of the silence
  thresholds, which the guide advises against there.
* ``whisper-rt``: no Medical Mode (``domain``), keyterms or diarization: not listed for it.

Booleans are lowercase, lists are one JSON-array parameter, absent values are left out.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared.contracts import SttSettings

ENCODING = "pcm_s16le"  # the capture agent always sends PCM16LE
DEFAULT_EOT_CONFIDENCE = 0.6  # the medical-scribe guide's example for Universal-Streaming
# Parameters a model does not take (sending them risks a refused session).
NOT_FOR_MODEL: dict[str, frozenset[str]] = {
    "whisper-rt": frozenset({"domain", "keyterms_prompt", "speaker_labels", "max_speakers"}),
}


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
    if not stt.universal_streaming:
        if stt.min_turn_silence is not None:
            params.append(("min_turn_silence", str(stt.min_turn_silence)))
        if stt.max_turn_silence is not None:
            params.append(("max_turn_silence", str(stt.max_turn_silence)))
    else:
        fmt = True if stt.format_turns is None else stt.format_turns
        params.append(("format_turns", _bool(fmt)))
        eot = stt.end_of_turn_confidence_threshold
        eot = DEFAULT_EOT_CONFIDENCE if eot is None else eot
        params.append(("end_of_turn_confidence_threshold", repr(eot)))
        if stt.speech_model == "universal-streaming-multilingual":
            params.append(("language_detection", "true"))
    if stt.keyterms:
        params.append(("keyterms_prompt", json.dumps(list(stt.keyterms))))
    params.append(("speaker_labels", _bool(stt.speaker_labels)))
    if stt.speaker_labels and stt.max_speakers is not None:
        params.append(("max_speakers", str(stt.max_speakers)))
    refused = NOT_FOR_MODEL.get(stt.speech_model, frozenset())
    return [(k, v) for k, v in params if k not in refused]


def unsupported_params(stt: SttSettings) -> list[str]:
    """What the encounter asked for that its model does not take (left out of the URL)."""
    refused = NOT_FOR_MODEL.get(stt.speech_model, frozenset())
    asked = {
        "domain": bool(stt.domain),
        "keyterms_prompt": bool(stt.keyterms),
        "speaker_labels": stt.speaker_labels,
    }
    return sorted(k for k, v in asked.items() if v and k in refused)


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
