"""`medscribe sim ...`: offline AssemblyAI streaming and LLM Gateway simulators."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import typer

from shared.cli_util import fail

app = typer.Typer(
    help="Offline simulators of AssemblyAI Streaming v3 and the LLM Gateway.",
    no_args_is_help=True,
)


@app.command("stt")
def stt(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8765, help="TCP port (0 picks a free one; the URL is printed)."),
    api_key: list[str] = typer.Option(
        ["sim-key"], "--api-key", help="Accepted API key (repeat for several)."
    ),
    time_scale: float = typer.Option(
        1.0,
        min=0.001,
        help="Server clocks run this many times faster than wall time "
        "(rate check, inactivity, session cap, faults); pace clients the same.",
    ),  # fmt: skip
    lookahead_s: float = typer.Option(
        30.0, help="Seconds of audio a client may be ahead of the clock before 3007."
    ),
    max_session_s: float = typer.Option(
        10800.0, help="Session cap in (scaled) seconds; then Error 3008."
    ),
    drop_every_s: float | None = typer.Option(
        None, help="FAULT: abort every session's TCP connection (client sees 1006) after N s."
    ),
    error_after_s: float | None = typer.Option(
        None, help="FAULT: send Error and close with --error-code after N (scaled) s."
    ),
    error_code: int = typer.Option(3005, help="FAULT: code used by --error-after-s."),
    new_sessions_per_min: int | None = typer.Option(
        None, help="FAULT: new sessions allowed per (scaled) minute; more get --rate-limit-code."
    ),
    rate_limit_code: int = typer.Option(
        1008, help="FAULT: 1008 or 3009, 'Too many concurrent sessions'."
    ),
    max_concurrent_sessions: int | None = typer.Option(
        None, help="FAULT: open sessions allowed at once; more get --rate-limit-code."
    ),
    begin_delay_s: float = typer.Option(
        0.0, help="FAULT: wall-clock seconds to wait before sending Begin."
    ),
    legacy_double_final: bool = typer.Option(
        False,
        help="Universal-Streaming with format_turns: send the pre-2026-03 double final "
        "(unformatted, then formatted, same turn_order).",
    ),  # fmt: skip
    mishear_drugs: bool = typer.Option(
        False,
        help="Write drug names as a recognizer mishears them ('a tour of a statin'), so the "
        "editor has real corrections to make.",
    ),  # fmt: skip
    realistic: bool = typer.Option(
        False,
        help="A server as untidy as the real one: nulls, extra message types, an ISO "
        "expires_at, replies that lag the audio, estimated word times, a slow Termination, "
        "speaker labels revised after the fact (SpeakerRevision).",
    ),  # fmt: skip
    speaker_revision_every: int | None = typer.Option(
        None,
        help="With speaker labels: every Nth final first names the wrong speaker and a "
        "SpeakerRevision corrects it later (--realistic: 3).",
    ),  # fmt: skip
    seed: int | None = typer.Option(None, help="Reproducible session ids and tokens."),
    log_level: str = typer.Option("INFO", help="Log level."),
) -> None:
    """Run the streaming v3 simulator at ws://HOST:PORT/v3/ws (plus GET /v3/token).

    Tone-coded audio (`medscribe sim encode`) is transcribed exactly; any other audio yields
    "\\[speech]" placeholder turns from an energy detector. Stop with Ctrl-C.
    """
    from shared.logging import configure_logging, get_logger
    from simulators.stt_server import SttSimConfig, SttSimulator

    configure_logging(log_level, "auto", service="sim-stt")
    log = get_logger("simulators.cli")
    try:
        make = SttSimConfig.realistic if realistic else SttSimConfig
        config = make(
            api_keys=tuple(api_key),
            time_scale=time_scale,
            lookahead_s=lookahead_s,
            max_session_s=max_session_s,
            drop_every_s=drop_every_s,
            error_after_s=error_after_s,
            error_code=error_code,
            new_sessions_per_min=new_sessions_per_min,
            rate_limit_code=rate_limit_code,
            max_concurrent_sessions=max_concurrent_sessions,
            begin_delay_s=begin_delay_s,
            legacy_double_final=legacy_double_final,
            mishear_drugs=mishear_drugs,
            seed=seed,
        )
        if speaker_revision_every is not None:
            config.speaker_revision_every = speaker_revision_every
            config.__post_init__()  # checked like every other knob
    except ValueError as err:
        fail(str(err))

    async def run() -> None:
        sim = SttSimulator(config)
        try:
            await sim.start(host, port)
        except OSError as err:
            fail(f"cannot listen on {host}:{port} ({err.strerror})")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        typer.echo(f"stt simulator listening on {sim.url}")
        await stop.wait()
        await sim.close()  # closes open sessions (1001) and waits for their handlers
        log.info("stt_sim_stopped", count=sim.stats.sessions_opened)

    asyncio.run(run())


@app.command("encode")
def encode_cmd(
    script: Path | None = typer.Argument(
        None, help='Script JSON: {"turns": [{"speaker", "text", "pause_ms"}]}.'
    ),
    output: Path = typer.Option(..., "-o", "--output", help="WAV file to write."),
    aci_bench: str | None = typer.Option(
        None, "--aci-bench", help="Encode this ACI-Bench encounter (e.g. D2N068) instead."
    ),
    csv: Path | None = typer.Option(None, help="ACI-Bench CSV (default ../shared/aci-bench)."),
    pause_ms: int = typer.Option(1200, help="Pause after each turn for --aci-bench."),
) -> None:
    """Write a tone-coded WAV (16 kHz PCM16) of a script or an ACI-Bench dialogue."""
    from shared.acibench import default_path, load_dialogues
    from simulators.codec import encode, load_script, script_from_dialogue, write_wav

    if (script is None) == (aci_bench is None):
        fail("give either SCRIPT or --aci-bench ENCOUNTER_ID")
    if aci_bench is not None:
        path = csv or default_path()
        if not path.exists():
            fail(f"ACI-Bench CSV not found at {path} (use --csv)")
        found = [d for d in load_dialogues(path) if d.encounter_id == aci_bench]
        if not found:
            fail(f"no encounter {aci_bench} in {path}")
        turns = script_from_dialogue(found[0], pause_ms)
    else:
        assert script is not None
        try:
            turns = load_script(script)
        except OSError as err:
            fail(f"cannot read {script} ({err.strerror})")
        except ValueError as err:
            fail(f"{script}: {err}")
    try:
        pcm = encode(turns)
    except ValueError as err:
        fail(str(err))
    write_wav(output, pcm)
    typer.echo(f"wrote {output}: {len(turns)} turns, {len(pcm) / 32000:.1f} s")


@app.command("decode")
def decode_cmd(wav: Path = typer.Argument(..., help="WAV written by `sim encode`.")) -> None:
    """Print the turns of a tone-coded WAV as `[speaker] text`."""
    import wave

    from simulators.codec import decode, read_wav

    try:
        pcm, rate = read_wav(wav)
    except (OSError, EOFError, wave.Error, ValueError) as err:
        fail(f"cannot read {wav}: {type(err).__name__}: {err}")
    for turn in decode(pcm, rate):
        typer.echo(f"[{turn.speaker}] {turn.text}")


@app.command("llm")
def llm(
    host: str = typer.Option("127.0.0.1", help="Bind address."),
    port: int = typer.Option(8090, help="Port (0 picks a free one)."),
    key: list[str] = typer.Option(["sim-key"], help="Accepted API key (repeatable)."),
    rpm: int = typer.Option(0, help="Requests per minute per model; 0 = unlimited."),
    latency: float = typer.Option(0.0, help="Fixed latency per reply (s)."),
    jitter: float = typer.Option(0.0, help="Extra random latency, uniform 0..jitter (s)."),
    error_rate: float = typer.Option(0.0, help="Share of requests answered 503."),
    timeout_rate: float = typer.Option(0.0, help="Share of requests that hang."),
    malformed_rate: float = typer.Option(0.0, help="Share of replies with a broken body."),
    seed: int | None = typer.Option(None, help="Seed of the fault injection."),
    fabricate: float = typer.Option(
        0.0, min=0.0, max=1.0, help="Share of SOAP statements given a fabricated fact."
    ),
    fabrication_log: Path | None = typer.Option(
        None, help="Append each fabrication to this JSON-lines file (for evaluations)."
    ),
) -> None:
    """Run the LLM Gateway simulator (OpenAI-compatible, deterministic edits and SOAP)."""
    import asyncio
    import contextlib
    import signal

    from simulators.llm_server import LlmSimConfig, start_llm_simulator

    config = LlmSimConfig(
        api_keys=tuple(key),
        rpm_per_model=rpm or None,
        latency_s=latency,
        latency_jitter_s=jitter,
        error_rate=error_rate,
        timeout_rate=timeout_rate,
        malformed_rate=malformed_rate,
        seed=seed,
        soap_fabricate_share=fabricate,
        fabrication_log=fabrication_log,
    )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with await start_llm_simulator(config, host, port) as sim:
            typer.echo(f"LLM Gateway simulator on {sim.base_url} (keys: {len(config.api_keys)})")
            await stop.wait()

    asyncio.run(serve())
