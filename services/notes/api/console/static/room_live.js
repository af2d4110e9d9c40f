// The room's browser: polls its room's current visit (session cookie for /live/room only).
(function () {
  "use strict";
  const box = document.getElementById("room-live");
  if (!box) return;
  const state = document.getElementById("room-live-state");
  const partialLine = document.getElementById("room-live-partial");
  let encounter = null;
  let after = null;
  let lastEnd = -1;

  function line(cls, label, text) {
    const p = document.createElement("p");
    p.className = cls;
    const b = document.createElement("strong");
    b.textContent = label;
    p.append(b, " ", text);
    return p;
  }

  function show(turn) {
    const div = document.createElement("div");
    div.className = "turn";
    const who = turn.speaker ? `Speaker ${turn.speaker}` : "Speaker unknown";
    div.append(line("who", who, ""));
    if (turn.edited_text === turn.text) div.append(line("said", "said:", turn.text));
    else div.append(line("heard muted", "heard:", turn.text), line("edited", "edited:", turn.edited_text));
    if (turn.flags.length) {
      const flags = turn.flags.map((f) => (f.assertion === "negated" ? `denies ${f.term}` : `${f.kind}: ${f.term}`));
      div.append(line("flags", "flags:", flags.join(", ")));
    }
    box.append(div);
    lastEnd = Math.max(lastEnd, turn.end_ms);
  }

  async function poll() {
    const params = new URLSearchParams();
    if (encounter) params.set("encounter", encounter);
    if (after) params.set("after", after);
    try {
      const resp = await fetch(`/live/room/feed?${params}`, { credentials: "same-origin", cache: "no-store" });
      if (resp.status === 401) { state.textContent = "This room's live view has ended (open a new link from the capture agent)."; return; }
      if (resp.ok) {
        const feed = await resp.json();
        if (!feed.encounter_id) {
          state.textContent = "No visit in progress in this room.";
        } else {
          if (feed.encounter_id !== encounter) { box.replaceChildren(); encounter = feed.encounter_id; lastEnd = -1; }
          const w = feed.waiting;
          const waited = w ? Math.max(0, Math.round((Date.now() - w.since_ms) / 1000)) : 0;
          state.textContent = w
            ? `Visit ${feed.encounter_id}: live - ${w.turns} turn(s) waiting for the LLM quota (${waited} s); they appear here once edited`
            : `Visit ${feed.encounter_id}: live`;
          feed.turns.forEach(show);
          after = feed.next;
          const p = feed.partial;
          partialLine.textContent = p && p.at_ms > lastEnd ? `… ${p.text}` : "";
        }
      }
    } catch (e) {
      state.textContent = "Reconnecting …";
    }
    setTimeout(poll, 1000);
  }
  poll();
})();
