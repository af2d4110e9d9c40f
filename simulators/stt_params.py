"""Connection query parameters of the streaming v3 simulator, parsed as the real service does:
booleans in any case (the Python SDK sends `True`), lists as a JSON array or as repeated
parameters, deprecated names mapped to the current ones. Unknown parameters are ignored."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import parse_qs

U3_MODELS = frozenset(
    {"u3-rt-pro", "u3-pro", "u3-rt-pro-beta-1", "universal-3-5-pro", "universal-3-6",
     "universal-3-6-pro"}
)  # fmt: skip
US_MODELS = frozenset(
    {"universal-streaming-english", "universal-streaming-multilingual", "whisper-rt"}
)
DEFAULT_MODEL = "u3-rt-pro"
# Parameters a model refuses, as the service documents them (§1.4): Medical Mode, keyterms
# and diarization are not listed for whisper-rt; `prompt` is U3 only; language detection
# needs a multilingual model.
REFUSED: dict[str, frozenset[str]] = {
    "whisper-rt": frozenset(
        {"domain", "keyterms_prompt", "speaker_labels", "max_speakers", "prompt",
         "language_detection"}
    ),
    "universal-streaming-english": frozenset({"prompt", "language_detection"}),
    "universal-streaming-multilingual": frozenset({"prompt"}),
}  # fmt: skip
FALSE_IS_ABSENT = frozenset({"speaker_labels", "language_detection"})
ENCODINGS = {"pcm_s16le": 2, "pcm_mulaw": 1}  # bytes per sample
_DEPRECATED = {
    "min_end_of_turn_silence_when_confident": "min_turn_silence",
    "noise_suppression_model": "voice_focus",
    "noise_suppression_threshold": "voice_focus_threshold",
}


class ParamError(ValueError):
    """A query parameter the service would reject (message names the parameter only)."""

    phi_safe = True


@dataclass
class SessionParams:
    speech_model: str = DEFAULT_MODEL
    sample_rate: int = 16000
    encoding: str = "pcm_s16le"
    format_turns: bool = False
    end_of_turn_confidence_threshold: float = 0.4
    min_turn_silence: int = 100
    max_turn_silence: int = 1000
    vad_threshold: float = 0.3
    speaker_labels: bool = False
    max_speakers: int | None = None
    language_detection: bool = False
    inactivity_timeout: int | None = None
    keyterms_prompt: list[str] = field(default_factory=list)
    prompt: str | None = None
    domain: str | None = None

    @property
    def family(self) -> Literal["u3", "us"]:
        return "u3" if self.speech_model in U3_MODELS else "us"

    @property
    def bytes_per_sample(self) -> int:
        return ENCODINGS[self.encoding]


def parse_bool(name: str, value: str) -> bool:
    low = value.strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise ParamError(f"Invalid query parameter {name}: expected a boolean")


def _num(name: str, value: str, kind: type[int] | type[float], lo: float, hi: float) -> Any:
    try:
        number = kind(float(value)) if kind is int and float(value).is_integer() else kind(value)
    except ValueError:
        raise ParamError(f"Invalid query parameter {name}: expected a number") from None
    if not lo <= number <= hi:
        raise ParamError(f"Invalid query parameter {name}: out of range {lo}..{hi}")
    return number


def parse_list(name: str, values: list[str]) -> list[str]:
    """One JSON array, or repeated plain values (the medical-scribe guide's doseq form)."""
    if len(values) == 1 and values[0].lstrip().startswith("["):
        try:
            items = json.loads(values[0])
        except json.JSONDecodeError:
            raise ParamError(f"Invalid query parameter {name}: bad JSON array") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ParamError(f"Invalid query parameter {name}: expected strings")
        return items
    return list(values)


def parse_query(query: str, defaults: SessionParams | None = None) -> SessionParams:
    raw = parse_qs(query, keep_blank_values=True)
    for old, new in _DEPRECATED.items():
        if old in raw and new not in raw:
            raw[new] = raw[old]
    one = {k: v[-1] for k, v in raw.items()}
    model = one.get("speech_model", DEFAULT_MODEL)
    if model not in U3_MODELS | US_MODELS:
        raise ParamError("Invalid query parameter speech_model: unknown model")
    for name in sorted(REFUSED.get(model, frozenset()) & set(one)):
        if name in FALSE_IS_ABSENT and one[name].strip().lower() in ("false", "0"):
            continue  # asking for it off is asking for nothing
        raise ParamError(f"Invalid query parameter {name}: not supported for {model}")
    base = defaults or SessionParams()
    p = replace(base, speech_model=model, keyterms_prompt=list(base.keyterms_prompt))
    if p.family == "us":  # Universal-Streaming defaults differ from U3's
        p.min_turn_silence, p.max_turn_silence, p.vad_threshold = 400, 1280, 0.4
    if "encoding" in one:
        if one["encoding"] not in ENCODINGS:
            raise ParamError("Invalid query parameter encoding: the simulator supports "
                             "pcm_s16le and pcm_mulaw")  # fmt: skip
        p.encoding = one["encoding"]
    if "sample_rate" in one:
        p.sample_rate = _num("sample_rate", one["sample_rate"], int, 8000, 48000)
    apply_updates(p, one, raw)
    for name in ("speaker_labels", "language_detection"):
        if name in one:
            setattr(p, name, parse_bool(name, one[name]))
    if "max_speakers" in one:
        p.max_speakers = _num("max_speakers", one["max_speakers"], int, 1, 10)
    if "inactivity_timeout" in one:
        p.inactivity_timeout = _num("inactivity_timeout", one["inactivity_timeout"], int, 5, 3600)
    p.domain = one.get("domain", p.domain)
    return p


def apply_updates(p: SessionParams, one: dict[str, Any], raw: dict[str, list[Any]]) -> None:
    """Fields that both the URL and `UpdateConfiguration` may set (values as strings or JSON)."""
    if "format_turns" in one:
        p.format_turns = _bool_any("format_turns", one["format_turns"])
    if "end_of_turn_confidence_threshold" in one:
        p.end_of_turn_confidence_threshold = _num(
            "end_of_turn_confidence_threshold", str(one["end_of_turn_confidence_threshold"]),
            float, 0.0, 1.0,
        )  # fmt: skip
    for name in ("min_turn_silence", "max_turn_silence"):
        if name in one:
            setattr(p, name, _num(name, str(one[name]), int, 0, 60000))
    if "vad_threshold" in one:
        p.vad_threshold = _num("vad_threshold", str(one["vad_threshold"]), float, 0.0, 1.0)
    if "keyterms_prompt" in raw:
        parsed = parse_list("keyterms_prompt", [str(v) for v in raw["keyterms_prompt"]])
        if len(parsed) > 100:
            raise ParamError("Invalid keyterms_prompt: at most 100 terms")
        p.keyterms_prompt = [t for t in parsed if len(t) <= 50]  # longer terms are ignored
    if "prompt" in one:
        p.prompt = str(one["prompt"])


def _bool_any(name: str, value: Any) -> bool:
    return value if isinstance(value, bool) else parse_bool(name, str(value))


def apply_update_message(p: SessionParams, msg: dict[str, Any]) -> None:
    """`UpdateConfiguration`: only the fields sent change; `keyterms_prompt` replaces the list."""
    for old, new in _DEPRECATED.items():
        if old in msg and new not in msg:
            msg[new] = msg[old]
    one = {k: v for k, v in msg.items() if k != "type" and v is not None}
    raw: dict[str, list[Any]] = {}
    if "keyterms_prompt" in one:
        terms = one["keyterms_prompt"]
        if not isinstance(terms, list):
            raise ParamError("Invalid keyterms_prompt: expected a list")
        raw["keyterms_prompt"] = [json.dumps(terms)]
    apply_updates(p, one, raw)
