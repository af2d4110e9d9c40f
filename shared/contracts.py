"""Typed messages carried on the Redis streams, and their one encode/decode pair.

Every entry (except audio frames) is stored as two fields: ``v`` (schema version) and
``data`` (the message as JSON), plus ``type`` (the message class name) on ``ms:control``
where several message kinds share a stream. Anything that does not parse raises
:class:`MalformedEntry`, whose text never contains field *values* (they may be PHI).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.errors import MedscribeError

SCHEMA_VERSION = 1

# Keyterm limits of AssemblyAI streaming (assemblyai-protocol.md §4.4).
MAX_KEYTERMS = 100
MAX_KEYTERM_CHARS = 50

# Universal-Streaming family: confidence-based turn detection, `format_turns` applies.
UNIVERSAL_STREAMING_MODELS = frozenset(
    {"universal-streaming-english", "universal-streaming-multilingual", "whisper-rt"}
)

EncounterId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class MalformedEntry(ValueError, MedscribeError):
    """A stream entry that cannot be decoded into its contract.

    The message names the problem (missing field, wrong type, bad version) but never the
    offending values, so it is safe to log.
    """


class Message(BaseModel):
    """Base of all stream messages: strict, immutable, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _now() -> datetime:
    return datetime.now(UTC)


class SttSettings(Message):
    """How an encounter is to be transcribed; chosen by the capture agent, used by the bridge."""

    speech_model: str = "u3-rt-pro"
    domain: str | None = "medical-v1"
    language: str = "en"
    sample_rate: int = Field(16000, ge=8000, le=48000)
    keyterms: tuple[str, ...] = ()
    # U3 and Universal-Streaming: silence thresholds (ms).
    min_turn_silence: int | None = Field(800, ge=0, le=10000)
    max_turn_silence: int | None = Field(2000, ge=0, le=20000)
    # Universal-Streaming only.
    end_of_turn_confidence_threshold: float | None = Field(None, ge=0.0, le=1.0)
    format_turns: bool | None = None
    speaker_labels: bool = False
    max_speakers: int | None = Field(None, ge=1, le=10)

    @field_validator("keyterms")
    @classmethod
    def _check_keyterms(cls, terms: tuple[str, ...]) -> tuple[str, ...]:
        return validate_keyterms(terms)

    @property
    def universal_streaming(self) -> bool:
        return self.speech_model in UNIVERSAL_STREAMING_MODELS


def validate_keyterms(terms: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Trim, dedupe and check keyterms against the service limits.

    Raises ValueError with a message that names the limit (terms are not PHI: they come
    from the clinic's configuration).
    """
    seen: dict[str, None] = {}
    for raw in terms:
        term = " ".join(raw.split())
        if not term:
            continue
        if len(term) > MAX_KEYTERM_CHARS:
            raise ValueError(
                f"keyterm {term!r} has {len(term)} characters; the limit is {MAX_KEYTERM_CHARS}"
            )
        seen.setdefault(term, None)
    if len(seen) > MAX_KEYTERMS:
        raise ValueError(f"{len(seen)} keyterms given; the limit is {MAX_KEYTERMS}")
    return tuple(seen)


class EncounterStarted(Message):
    encounter_id: EncounterId
    room: str = Field(min_length=1, max_length=100)
    started_at: datetime = Field(default_factory=_now)
    stt: SttSettings = Field(default_factory=SttSettings)
    llm_model: str = Field(min_length=1, max_length=100)
    clinician: str | None = Field(None, max_length=100)


class EncounterStopped(Message):
    encounter_id: EncounterId
    # Frame number of the last audio frame written; -1 when the visit produced no audio.
    last_frame_seq: int = Field(ge=-1)
    stopped_at: datetime = Field(default_factory=_now)


class SttSessionUsage(Message):
    """One AssemblyAI WebSocket session of an encounter (cost accounting)."""

    session_id: str
    audio_duration_s: int = Field(ge=0)
    session_duration_s: int = Field(ge=0)


class SpeakerRevised(Message):
    """The STT service re-decided who spoke turn ``seq`` after it was published
    (``SpeakerRevision``); ``speaker`` is the encounter-wide label, None: unassigned."""

    seq: int = Field(ge=0)
    speaker: str | None = Field(None, max_length=20)


class EncounterTranscribed(Message):
    encounter_id: EncounterId
    turn_count: int = Field(ge=0)
    audio_ms: int = Field(ge=0)
    stt_sessions: tuple[SttSessionUsage, ...] = ()
    # Seqs the STT service returned unusable: counted in turn_count, never published.
    gap_seqs: tuple[int, ...] = ()
    # Speaker labels revised after their turns were published (the latest per seq): the
    # stored transcript and the note use these instead of the turns' own labels.
    speaker_revisions: tuple[SpeakerRevised, ...] = ()


class EncounterFailed(Message):
    encounter_id: EncounterId
    stage: Literal["capture", "stt", "editor", "notes"]
    # A reason code or operator-facing sentence; must never carry transcript text.
    reason: str = Field(max_length=500)


ControlMessage = EncounterStarted | EncounterStopped | EncounterTranscribed | EncounterFailed
CONTROL_TYPES: dict[str, type[Message]] = {
    cls.__name__: cls
    for cls in (EncounterStarted, EncounterStopped, EncounterTranscribed, EncounterFailed)
}


class PartialTurn(Message):
    encounter_id: EncounterId
    text: str
    at_ms: int = Field(ge=0)


class Word(Message):
    text: str
    start_ms: int = Field(ge=0)
    end_ms: int = Field(ge=0)
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    speaker: str | None = None


class FinalTurn(Message):
    encounter_id: EncounterId
    seq: int = Field(ge=0)
    stt_session_id: str
    turn_order: int = Field(ge=0)
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None
    start_ms: int = Field(ge=0)
    end_ms: int = Field(ge=0)
    formatted: bool = True


FlagKind = Literal["medication", "symptom", "diagnosis"]


FlagAssertion = Literal["present", "negated"]


class Flag(Message):
    kind: FlagKind
    term: str
    # "negated": the patient denied it ("no chest pain"), shown apart as "denies: ...".
    # Absent in older messages and stored turns: those were present.
    assertion: FlagAssertion = "present"


def flag_dicts(flags: Iterable[Flag]) -> list[dict[str, Any]]:
    """A turn's flags as JSON objects (kind, term, assertion): as stored with the turn and
    as the live views send them."""
    return [f.model_dump() for f in flags]


EditStatus = Literal["edited", "unchanged", "fallback"]


class EditedTurn(FinalTurn):
    edited_text: str
    edit_status: EditStatus
    llm_model: str
    flags: tuple[Flag, ...] = ()
    # Why a fallback happened (a code such as "gateway_unavailable"); never turn text.
    edit_reason: str | None = Field(None, max_length=200)


LiveNoticeKind = Literal["refused", "exported"]


class LiveNotice(Message):
    """A word from the clinic server to the room recording ``encounter_id``, on that
    visit's ``live:<encounter>`` stream (next to the turn copies; shared/rooms.py).

    ``refused``: the notes service's room gate did not forward the visit's start
    (``reason`` is the gate's code, e.g. ``refused_cap``). ``exported``: the visit's files
    were written on the server, in ``export_dir``. Never carries transcript text or PHI.
    """

    encounter_id: EncounterId
    kind: LiveNoticeKind
    reason: str | None = Field(None, max_length=100, pattern=r"^[a-z_]+$")
    export_dir: str | None = Field(None, max_length=1000)


class QuotaWait(BaseModel):
    """The editor's mark on a visit whose turns wait for LLM quota (``editor_quota_wait``):
    how many turns and since when (epoch ms). Counts and times only; the live views show it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    turns: int = Field(ge=1)
    since_ms: int = Field(ge=0)

    @classmethod
    def parse(cls, raw: bytes | str | None) -> QuotaWait | None:
        """The mark as stored, or None when absent or unreadable (a notice, never an error)."""
        if not raw:
            return None
        try:
            return cls.model_validate_json(raw)
        except ValidationError:
            return None


M = TypeVar("M", bound=Message)

Fields = Mapping[bytes, bytes] | Mapping[str, str] | Mapping[bytes | str, bytes | str]


def _field(fields: Fields, name: str) -> bytes | str | None:
    raw: Any = fields
    value = raw.get(name.encode())
    if value is None:
        value = raw.get(name)
    return value


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _integer(value: bytes | str, what: str) -> int:
    """``value`` as an int, else MalformedEntry naming ``what`` (never the value)."""
    try:
        return int(_text(value))
    except (ValueError, UnicodeDecodeError):
        raise MalformedEntry(f"{what} is not an integer") from None


def encode(message: Message) -> dict[str, str]:
    """Stream fields for one message."""
    return {
        "v": str(SCHEMA_VERSION),
        "type": type(message).__name__,
        "data": message.model_dump_json(),
    }


def _describe(err: ValidationError) -> str:
    # Locations and error types only: `str(err)` would echo the input values.
    parts = []
    for e in err.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        parts.append(f"{loc}: {e['type']}")
    return "; ".join(parts[:5])


def decode(fields: Fields, model: type[M]) -> M:
    """Parse stream fields into ``model`` or raise :class:`MalformedEntry`."""
    version_raw = _field(fields, "v")
    data_raw = _field(fields, "data")
    if version_raw is None or data_raw is None:
        raise MalformedEntry("entry lacks the 'v' or 'data' field")
    version = _integer(version_raw, "schema version")
    if version != SCHEMA_VERSION:
        raise MalformedEntry(f"unsupported schema version {version} (expected {SCHEMA_VERSION})")
    type_raw = _field(fields, "type")
    if type_raw is not None and _text(type_raw) != model.__name__:
        raise MalformedEntry(f"entry type {_text(type_raw)[:40]!r} is not {model.__name__}")
    try:
        return model.model_validate_json(data_raw)
    except ValidationError as err:
        raise MalformedEntry(f"{model.__name__} does not validate: {_describe(err)}") from None


def decode_control(fields: Fields) -> ControlMessage:
    """Parse a ``ms:control`` entry into whichever control message it carries."""
    type_raw = _field(fields, "type")
    if type_raw is None:
        raise MalformedEntry("control entry lacks the 'type' field")
    try:
        cls = CONTROL_TYPES[_text(type_raw)]
    except (KeyError, UnicodeDecodeError):
        raise MalformedEntry("unknown control message type") from None
    return decode(fields, cls)  # type: ignore[return-value]


class AudioFrame(BaseModel):
    """One frame of PCM16LE mono audio on ``ms:audio:{encounter}``."""

    model_config = ConfigDict(frozen=True)

    seq: int = Field(ge=0)
    pcm: bytes


def encode_audio(frame: AudioFrame) -> dict[str, bytes]:
    return audio_fields(frame.seq, frame.pcm)


def audio_fields(seq: int, pcm: bytes) -> dict[str, bytes]:
    """An audio entry's fields without a model per frame (capture sends 20 a second)."""
    return {"seq": str(seq).encode(), "pcm": pcm}


def audio_parts(fields: Fields) -> tuple[int, bytes]:
    """``(seq, pcm)`` of an audio entry, checked as :func:`decode_audio` checks it, without
    a model per frame (the bridge reads every room's 20 frames a second)."""
    return audio_values(_field(fields, "seq"), _field(fields, "pcm"))


def audio_values(seq_raw: bytes | str | None, pcm: bytes | str | None) -> tuple[int, bytes]:
    """:func:`audio_parts` of an entry's ``seq`` and ``pcm`` values (None: missing)."""
    if seq_raw is None or pcm is None:
        raise MalformedEntry("audio entry lacks 'seq' or 'pcm'")
    seq = _integer(seq_raw, "audio seq")
    if seq < 0:
        raise MalformedEntry("audio seq is negative")
    if isinstance(pcm, str):
        pcm = pcm.encode("latin-1")
    if len(pcm) % 2:
        raise MalformedEntry("audio frame has an odd number of bytes")
    return seq, pcm


def decode_audio(fields: Fields) -> AudioFrame:
    seq, pcm = audio_parts(fields)
    return AudioFrame(seq=seq, pcm=pcm)


class _Stream:
    """A shared stream's name under the instance's prefix: a read-only attribute."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, names: StreamNames, owner: type | None = None) -> str:
        return names.prefix + self.suffix

    def __set__(self, names: StreamNames, value: str) -> None:
        raise AttributeError(f"{self.name} follows the prefix and cannot be set")


class StreamNames:
    """Names of all streams and keys, under one configurable prefix (default ``ms:``)."""

    control = _Stream("control")
    turns = _Stream("turns")
    edited = _Stream("turns:edited")
    dead = _Stream("dead")

    def __init__(self, prefix: str = "ms:") -> None:
        self.prefix = prefix

    def audio(self, encounter_id: str) -> str:
        return f"{self.prefix}audio:{encounter_id}"

    def partials(self, encounter_id: str) -> str:
        return f"{self.prefix}partials:{encounter_id}"

    def live(self, encounter_id: str) -> str:
        """A room's copy of its visit's edited turns (shared/rooms.py): the room may read
        it, never the clinic-wide ``turns:edited``."""
        return f"{self.prefix}live:{encounter_id}"

    def key(self, *parts: str) -> str:
        """A plain Redis key (leases, state, limiter) under the same prefix."""
        return self.prefix + ":".join(parts)

    # Per-encounter keys, named here once: the services write them, and the notes
    # service deletes them when the visit is durable (services never import each other).
    @property
    def bridge_active(self) -> str:
        return self.key("bridge", "active")

    def bridge_state(self, encounter_id: str) -> str:
        return self.key("bridge", "enc", encounter_id)

    def bridge_sessions(self, encounter_id: str) -> str:
        return self.key("bridge", "sessions", encounter_id)

    def bridge_lease(self, encounter_id: str) -> str:
        return self.key("bridge", "lease", encounter_id)

    def bridge_dead_mark(self, encounter_id: str, entry_id: str) -> str:
        return self.key("bridge", "dead", encounter_id, entry_id)

    def editor_published(self, encounter_id: str, seq: int) -> str:
        return self.key("editor", "published", encounter_id, str(seq))

    @property
    def llm_rate_prefix(self) -> str:
        """Keys of the shared per-model LLM quota (``shared.rate_limit``): the editor's
        edits and the notes' SOAP calls count against the same window."""
        return self.key("editor", "rate", "")

    def editor_quota_wait(self, encounter_id: str) -> str:
        """Set while a visit's turns wait for LLM quota (counts and times, no text); the
        live view shows it. Short-lived: it expires seconds after the wait ends."""
        return self.key("editor", "wait", encounter_id)

    def editor_result(self, prompt_version: str, encounter_id: str, seq: int) -> str:
        return self.key("editor", "result", prompt_version, encounter_id, str(seq))

    def editor_context(self, encounter_id: str) -> str:
        return self.key("editor", "ctx", encounter_id)

    def editor_encounter(self, encounter_id: str) -> str:
        return self.key("editor", "enc", encounter_id)

    def encounter_keys(self, encounter_id: str) -> list[str]:
        """Every per-encounter key with a fixed name (the per-turn and per-entry marks
        are found by :func:`shared.release.owned_key`)."""
        return [
            self.audio(encounter_id),
            self.partials(encounter_id),
            self.live(encounter_id),
            self.bridge_state(encounter_id),
            self.bridge_sessions(encounter_id),
            self.bridge_lease(encounter_id),
            self.editor_context(encounter_id),
            self.editor_encounter(encounter_id),
        ]


# Partials are ephemeral UI hints: the only stream that may be trimmed.
PARTIALS_MAXLEN = 200
