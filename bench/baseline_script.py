"""The single-script baseline: how the original one-file scribe works, for comparison.

    python -m bench.baseline_script --url ws://... --gateway http://... --room 3 --seconds 60 \
        --out result.json

One process, one room, one WebSocket, as in the original guide: a sender thread streams the
microphone (here: the room's tone-coded dialogue, at real time, 50 ms chunks), and the
receiving side dispatches every message to a callback. The callback of a final turn calls
the LLM Gateway *synchronously* and prints the edited turn, so while that call is in flight
the socket is not read: partials and later finals wait in the receive buffer. At the end it
sends Terminate and writes a SOAP note with one more gateway call, as the guide did.

What it records (wall times, to compare with the simulator's emission log): when each
partial reached the screen, when each edited turn was printed, when the note was written.
Only hashes of texts are kept. Not a product: no reconnect, no spool, no retry.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.sync.client import connect

from bench.feeder import MODEL, SPEECH_MODEL, room_pcm
from bench.probe_sim import text_hash
from services.notes.soap_prompt import soap_messages
from services.stt_bridge.url import formats_turns, streaming_params
from shared.contracts import SttSettings
from shared.prompts import build_edit_messages


class Scribe:
    def __init__(self, gateway: str, key: str, formatted: bool) -> None:
        self.formatted = formatted
        self.http = httpx.Client(base_url=gateway, headers={"Authorization": key}, timeout=60)
        self.session = ""
        self.partials: list[tuple[str, str, float]] = []  # (session, text hash, shown at)
        self.edited: list[tuple[str, int, float]] = []  # (session, turn_order, printed at)
        self.turns: list[str] = []
        self.done = threading.Event()

    def llm(self, messages: list[Any], max_tokens: int) -> str:
        body = {"model": MODEL, "messages": messages, "max_tokens": max_tokens, "temperature": 0.2}
        r = self.http.post("/v1/chat/completions", json=body)
        r.raise_for_status()
        return str(r.json()["choices"][0]["message"]["content"])

    def on_message(self, raw: str) -> None:
        """The guide's callback: runs on the receiving side, blocking it while it works."""
        msg = json.loads(raw)
        kind = msg.get("type")
        if kind == "Begin":
            self.session = msg["id"]
        elif kind == "Turn" and not msg.get("end_of_turn"):
            print(f"\r{msg['transcript']}", end="", file=sys.stderr)  # the live partial line
            self.partials.append((self.session, text_hash(msg["transcript"].strip()), time.time()))
        elif kind == "Turn" and msg.get("turn_is_formatted") is False and self.formatted:
            return  # Universal-Streaming with format_turns: the formatted final follows
        elif kind == "Turn":
            text = msg["transcript"]
            edited = self.llm(build_edit_messages(text), 600)  # the receive loop waits here
            print(f"\n{edited}", file=sys.stderr)
            self.edited.append((self.session, int(msg["turn_order"]), time.time()))
            self.turns.append(edited)
        elif kind == "Termination":
            self.done.set()


def stream_audio(ws: Any, pcm: bytes) -> None:
    """The microphone thread: 50 ms chunks at real time."""
    t0 = time.monotonic()
    for i, at in enumerate(range(0, len(pcm), 1600)):
        delay = t0 + i * 0.05 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ws.send(pcm[at : at + 1600])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--gateway", required=True)
    p.add_argument("--key", default="bench")
    p.add_argument("--room", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--speech-model", default=SPEECH_MODEL)
    a = p.parse_args()
    # The same query the bridge sends for the same encounter settings.
    query = urlencode(streaming_params(SttSettings(speech_model=a.speech_model)))
    pcm = room_pcm(a.room, a.seconds)
    scribe = Scribe(a.gateway, a.key, formats_turns(SttSettings(speech_model=a.speech_model)))
    stopped = note_at = float("nan")
    with connect(f"{a.url}?{query}", additional_headers={"Authorization": a.key},
                 max_size=None) as ws:  # fmt: skip
        scribe.on_message(str(ws.recv()))  # Begin
        mic = threading.Thread(target=stream_audio, args=(ws, pcm), daemon=True)
        mic.start()

        def receive() -> None:
            for raw in ws:
                scribe.on_message(str(raw))
                if scribe.done.is_set():
                    return

        rx = threading.Thread(target=receive, daemon=True)
        rx.start()
        mic.join()
        stopped = time.time()  # the clinician pressed stop
        ws.send(json.dumps({"type": "Terminate"}))
        rx.join(120)
    if scribe.turns:
        scribe.llm(soap_messages("\n".join(scribe.turns)), 1200)  # the guide's one request
        note_at = time.time()  # written to a file right after, as the guide did
    with open(a.out, "w") as f:
        json.dump({"partials": scribe.partials, "edited": scribe.edited, "stopped": stopped,
                   "note_at": note_at}, f)  # fmt: skip


if __name__ == "__main__":
    main()
