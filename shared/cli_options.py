"""Recording options of `medscribe capture`; `medscribe scribe` takes the same ones and
hands them on to it, so both commands declare them here once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

WavFileOption = Annotated[Path | None, typer.Option("--file", "-f", help="Record from a WAV file.")]
StdinOption = Annotated[bool, typer.Option("--stdin", help="Raw PCM16LE 16 kHz mono on stdin.")]
DeviceOption = Annotated[str | None, typer.Option("--device", help="Microphone: index or name.")]
LlmModelOption = Annotated[
    str | None, typer.Option("--llm-model", help="LLM model; skips the menu.")
]
RoomOption = Annotated[str | None, typer.Option("--room", help="Exam room name [MEDSCRIBE_ROOM].")]
