"""`medscribe sim ...`: offline AssemblyAI streaming and LLM Gateway simulators."""

from __future__ import annotations

import typer

from shared.cli_util import not_yet

app = typer.Typer(help="Offline simulators of AssemblyAI Streaming v3 and the LLM Gateway.",
                  no_args_is_help=True)


@app.command("stt")
def stt() -> None:
    """Run the streaming v3 simulator."""
    not_yet("medscribe sim stt")


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
