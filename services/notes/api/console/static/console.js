// medscribe web console: a little hand-written JavaScript on server-rendered pages.
// It calls the staff API's own /v1 endpoints with the session cookie (same origin) and
// sends the session's CSRF token on every request that changes data. Patient data is put
// into the page with textContent only (never parsed as HTML), never into URLs and never
// into browser storage.
"use strict";

(() => {
  const body = document.body;
  const CSRF = body.dataset.csrf || "";
  const SECTIONS = ["subjective", "objective", "assessment", "plan"];
  const LIVE_STATUSES = new Set(["recording", "transcribing", "note_pending"]);
  // Clinical words for the statuses (services/notes/console/wording.py has the same).
  const STATUS_LABELS = {
    recording: "Recording", transcribing: "Transcribing", note_pending: "Writing note",
    needs_review: "Needs review", ready: "Awaiting signature", signed: "Signed",
    failed: "Failed", purged: "Removed",
  };
  // Encounters whose note may be written again (the API refuses the others).
  const REGENERATABLE = new Set(["needs_review", "ready", "failed"]);
  const ENCOUNTER_PAGE = /^\/encounters\/[A-Za-z0-9_.:-]{1,64}(\/summary)?$/;
  let leaving = false;  // the session ended: going to sign-in, no "unsaved changes" prompt

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  let toastTimer = null;
  function toast(message, kind = "info") {
    const box = $("#toast");
    if (!box) return;
    box.textContent = message;
    box.dataset.kind = kind;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  // One call to the staff API. A 401 means the session ended: back to the sign-in page.
  async function api(method, path, { json, headers = {}, accept } = {}) {
    const opts = { method, headers: { ...headers }, credentials: "same-origin", cache: "no-store" };
    if (method !== "GET" && method !== "HEAD") opts.headers["X-CSRF-Token"] = CSRF;
    if (accept) opts.headers.Accept = accept;
    if (json !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(json);
    }
    const resp = await fetch(path, opts);
    if (resp.status === 401) {
      // Back to this note after signing in again (the visit id is no patient data).
      const here = window.location.pathname;
      const next = ENCOUNTER_PAGE.test(here) ? `&next=${encodeURIComponent(here)}` : "";
      leaving = true;
      window.location.assign(`/signin?expired=1${next}`);
      return new Promise(() => {});  // the page is going away; its callers need not go on
    }
    return resp;
  }

  async function detail(resp) {
    try {
      const data = await resp.json();
      if (typeof data.detail === "string") return data.detail;
      if (Array.isArray(data.detail)) return data.detail.map((d) => `${(d.loc || []).slice(-1)[0]}: ${d.msg}`).join("; ");
    } catch (_) { /* not JSON */ }
    return `request failed (${resp.status})`;
  }

  const pad = (n) => String(n).padStart(2, "0");
  function fmtTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    const today = new Date();
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (d.toDateString() === today.toDateString()) return `today ${time}`;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
  }
  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
    const s = Math.max(0, Math.round(seconds));
    if (s >= 3600) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
    return s >= 60 ? `${Math.floor(s / 60)} min ${pad(s % 60)} s` : `${s} s`;
  }
  function durationOf(enc) {
    const start = Date.parse(enc.started_at);
    const end = enc.stopped_at ? Date.parse(enc.stopped_at) : (LIVE_STATUSES.has(enc.status) && enc.status === "recording" ? Date.now() : null);
    return end === null ? null : (end - start) / 1000;
  }
  function patientText(p) {
    if (!p) return "";
    return [p.name || "(name not given)", p.mrn ? `MRN ${p.mrn}` : "", p.dob ? `DOB ${p.dob}` : ""]
      .filter(Boolean).join(" · ");
  }

  function statusText(status, amended) {
    const label = STATUS_LABELS[status] || (status || "unknown").replace("_", " ");
    return status === "signed" && amended ? `${label} · addendum` : label;
  }
  function badge(status, amended) {
    return el("span", { class: `badge status-${status || "unknown"}`, "data-status": status || "unknown", text: statusText(status, amended) });
  }
  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      // No clipboard permission (older browser, plain http): the classic way.
      const area = el("textarea", { class: "sr", "aria-hidden": "true" });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
  }
  // A date input (local day) as an ISO instant for the API's filters.
  function dayStart(value) {
    if (!value) return null;
    const [y, m, d] = value.split("-").map(Number);
    return new Date(y, m - 1, d).toISOString();
  }
  function download(name, blob) {
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // Line diff (longest common subsequence); small inputs only (a note is a few dozen lines).
  function diffLines(before, after) {
    const a = before.split("\n"), b = after.split("\n");
    const n = a.length, m = b.length;
    const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    const out = [];
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (a[i] === b[j]) { out.push(["same", a[i]]); i++; j++; }
      else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push(["del", a[i++]]);
      else out.push(["add", b[j++]]);
    }
    while (i < n) out.push(["del", a[i++]]);
    while (j < m) out.push(["add", b[j++]]);
    return out;
  }
  function renderDiff(target, before, after, labels = ["removed", "added"]) {
    target.replaceChildren();
    const rows = diffLines(before, after);
    if (!rows.some(([kind]) => kind !== "same")) {
      target.append(el("p", { class: "hint", text: "No differences." }));
      return;
    }
    for (const [kind, line] of rows) {
      const sign = kind === "add" ? "+" : kind === "del" ? "−" : " ";
      const label = kind === "add" ? labels[1] : kind === "del" ? labels[0] : null;
      target.append(el("div", { class: `diff-line ${kind}` },
        el("span", { class: "sign", "aria-hidden": "true", text: sign }),
        label ? el("span", { class: "sr", text: `${label}: ` }) : null,
        el("span", { text: line || " " })));
    }
  }

  function sectionsText(sections) {
    return SECTIONS.map((k) => `${k[0].toUpperCase()}${k.slice(1)}:\n${(sections[k] || []).map((s) => `- ${s}`).join("\n")}`).join("\n\n");
  }

  // ---------------------------------------------------------------- encounters list
  function encountersPage() {
    const form = $("#filters");
    const list = $("#encounter-list");
    const state = $("#list-state");
    const more = $("#more");
    let cursor = null;
    let extraPages = false;
    let timer = null;
    const worklist = $("#worklist");
    let view = worklist ? worklist.dataset.default : "all";
    const VIEW_TITLES = { to_sign: "My notes to sign", today: "Today", all: "All visits", unassigned: "Unassigned visits" };
    const EMPTY = {
      unassigned: "No visit is waiting for a clinician.",
      to_sign: "Nothing to sign. A note appears here as soon as it is written.",
      today: "No visits today yet.",
      all: "No visits match.",
    };
    function startOfToday() {
      const d = new Date();
      return new Date(d.getFullYear(), d.getMonth(), d.getDate()).toISOString();
    }
    function setView(next) {
      view = next;
      $$(".tab", worklist).forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === view)));
      extraPages = false;
      load(false);
    }
    if (worklist) $$(".tab", worklist).forEach((b) => b.addEventListener("click", () => setView(b.dataset.view)));
    // The clinician's count of notes awaiting their signature, on the tab and the heading.
    async function countToSign() {
      const tab = $("#to-sign-count");
      if (!tab) return;
      const resp = await api("POST", "/v1/encounters/search", { json: { to_sign: true, limit: 200 } });
      if (!resp.ok) return;
      const page = await resp.json();
      const n = `${page.items.length}${page.next_cursor ? "+" : ""}`;
      tab.textContent = `(${n})`;
      if (view === "to_sign") $("#worklist-h").textContent = `My notes to sign (${n})`;
    }

    // The filters go in a POST body: search words never appear in a URL.
    function query(withCursor) {
      const search = { limit: 50 };
      if (view === "to_sign") search.to_sign = true;
      if (view === "unassigned") search.unassigned = true;
      if (view === "today") search.started_after = startOfToday();
      const data = new FormData(form);
      for (const key of ["q", "status", "room", "clinician"]) {
        const value = (data.get(key) || "").toString().trim();
        if (value) search[key] = value;
      }
      const since = dayStart((data.get("since") || "").toString());
      if (since && !(view === "today" && since < search.started_after)) search.started_after = since;
      if (withCursor && cursor) search.cursor = cursor;
      return search;
    }

    function item(enc) {
      const link = el("a", { href: `/encounters/${encodeURIComponent(enc.id)}`, class: "enc-link" },
        enc.patient ? el("span", { class: "enc-patient", text: patientText(enc.patient) }) : "",
        enc.visit_reason ? el("span", { class: "enc-reason", text: enc.visit_reason }) : "",
        el("span", { class: "enc-id mono", text: enc.id }),
        badge(enc.status, enc.amended_at),
        el("span", { class: "enc-meta" },
          el("span", {}, el("span", { class: "k", text: "room " }), enc.room || "–"),
          el("span", {}, el("span", { class: "k", text: "clinician " }), enc.clinician || "not assigned"),
          el("span", {}, el("span", { class: "k", text: "started " }), fmtTime(enc.started_at)),
          el("span", {}, el("span", { class: "k", text: "duration " }), fmtDuration(durationOf(enc)))));
      // A visit recorded without a clinician: the clinician takes it (audited).
      const claim = view === "unassigned" && !enc.clinician ? el("button", {
        type: "button", class: "secondary small", "aria-label": `Claim visit ${enc.id}`,
        onclick: async () => {
          const r = await api("POST", `/v1/encounters/${encodeURIComponent(enc.id)}/claim`, { json: {} });
          toast(r.ok ? "The visit is yours now." : await detail(r), r.ok ? "info" : "error");
          load(false);
        },
      }, "Claim") : null;
      return el("li", { class: "enc", "data-id": enc.id, "data-status": enc.status }, link, claim);
    }

    let loads = 0;
    async function load(append = false) {
      const mine = ++loads;  // a slower answer to an earlier view must not overwrite this one
      let resp;
      try {
        resp = await api("POST", "/v1/encounters/search", { json: query(append) });
      } catch (err) {
        state.textContent = "Connection lost; retrying…";
        return;
      }
      if (!resp.ok) {
        if (mine === loads) state.textContent = await detail(resp);
        return;
      }
      const page = await resp.json();
      if (mine !== loads) return;
      const items = page.items.map(item);
      if (append) list.append(...items); else list.replaceChildren(...items);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      const now = new Date();
      state.textContent = list.children.length
        ? `${list.children.length} visit(s) · updated ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())} · live`
        : EMPTY[view] || EMPTY.all;
      if (worklist && view !== "to_sign") $("#worklist-h").textContent = VIEW_TITLES[view];
      countToSign();
    }

    function schedule() {
      clearInterval(timer);
      // Live updates: the first page is fetched again every few seconds (statuses change
      // in several services; the list endpoint is where they all show).
      timer = setInterval(() => { if (!document.hidden && !extraPages) load(false); }, 4000);
    }
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      extraPages = false;
      // A search looks through every visit, not just the current worklist.
      if (worklist && (new FormData(form).get("q") || "").toString().trim()) { setView("all"); schedule(); return; }
      load(false);
      schedule();
    });
    form.addEventListener("reset", () => setTimeout(() => { extraPages = false; load(false); }, 0));
    more.addEventListener("click", () => { extraPages = true; load(true); });
    load(false);
    schedule();
    frontDesk();
  }

  // The front desk assigns the next patient (and clinician) to a room; the patient's
  // details go in a POST body, never in the address.
  function frontDesk() {
    const form = $("#assign-form");
    if (!form) return;
    const queue = $("#room-queue");
    async function showQueue(room) {
      const resp = await api("GET", `/v1/rooms/${encodeURIComponent(room)}/assignments`);
      if (!resp.ok) return;
      const { items } = await resp.json();
      queue.replaceChildren(el("h3", { text: `Waiting for room ${room}` }),
        items.length ? el("ol", { class: "queue" }, ...items.map((a) => el("li", {
          text: `${patientText(a.patient)}${a.visit_reason ? ` · ${a.visit_reason}` : ""}${a.clinician ? ` · with ${a.clinician}` : ""}`,
        }))) : el("p", { class: "hint", text: "Nobody is waiting." }));
    }
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      const room = (data.get("room") || "").toString().trim();
      const json = { patient_name: (data.get("patient_name") || "").toString().trim() };
      for (const key of ["mrn", "dob", "visit_reason", "clinician"]) {
        const value = (data.get(key) || "").toString().trim();
        if (value) json[key] = value;
      }
      const resp = await api("POST", `/v1/rooms/${encodeURIComponent(room)}/assignments`, { json });
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      toast(`${json.patient_name} is next in room ${room}.`);
      for (const key of ["patient_name", "mrn", "dob", "visit_reason"]) form.elements[key].value = "";
      showQueue(room);
    });
  }

  // ---------------------------------------------------------------- one encounter
  function encounterPage(root) {
    const id = root.dataset.encounterId;
    const base = `/v1/encounters/${encodeURIComponent(id)}`;
    const turnsBox = $("#transcript");
    const partialBox = $("#partial");
    const form = $("#note-form");
    const S = { enc: null, note: null, theirs: null, versions: [], roles: {}, turns: [], dirty: false, source: null, retry: 0, draftChecked: false, draftTimer: null };
    const mayWrite = body.dataset.mayWrite === "true";
    const modelName = (id) => {
      const opt = $$("#regen-model option").find((o) => o.value === id);
      return opt ? opt.textContent : id;
    };
    const signed = () => Boolean(S.note && S.note.signed_at);

    // -- facts and status
    function renderFacts(enc) {
      S.enc = enc;
      const b = $("#status-badge");
      b.replaceWith(Object.assign(badge(enc.status, enc.amended_at), { id: "status-badge" }));
      const t = enc.timings || {};
      const facts = [
        ...(enc.patient ? [["Patient", patientText(enc.patient)]] : []),
        ...(enc.visit_reason ? [["Reason for visit", enc.visit_reason]] : []),
        ["Room", enc.room || "–"], ["Clinician", enc.clinician || "not assigned"],
        ["Started", fmtTime(enc.started_at)], ["Recording", fmtDuration(t.recording_s ?? durationOf(enc))],
        ["Turns", `${enc.stored_turns}${enc.expected_turns ? ` of ${enc.expected_turns}` : ""}`],
        ["Note written by", enc.llm_model ? modelName(enc.llm_model) : "–"], ["Speech recognition", enc.speech_model || "–"],
      ];
      if (t.note_lag_s !== null && t.note_lag_s !== undefined && enc.note_at) facts.push(["Note ready", `${fmtDuration(t.note_lag_s)} after the visit`]);
      if (enc.failure_stage) facts.push(["Failed at", `${enc.failure_stage}: ${enc.failure_reason || ""}`]);
      $("#facts").replaceChildren(...facts.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v }))));
      const model = $("#regen-model");
      if (model && !S.modelChosen && [...model.options].some((o) => o.value === enc.llm_model)) model.value = enc.llm_model;
      showActions();
    }
    // Offer only what the server would do now: Regenerate on a finished, unsigned note with
    // a transcript; speaker corrections until the note is signed.
    function showActions() {
      const enc = S.enc;
      const regen = $("#regen-form");
      if (regen) regen.hidden = !(enc && S.note && !signed() && REGENERATABLE.has(enc.status) && enc.stored_turns > 0);
      const swap = $("#swap-speakers");
      if (swap) swap.hidden = !(enc && enc.status !== "signed" && Object.keys(S.roles || {}).length);
      // The patient's after-visit summary is written from the signed note only.
      const summary = $("#summary-link");
      if (summary) summary.hidden = !signed();
    }

    // -- transcript
    function speakerLabel(turn) {
      // Live turns carry no role: use what the stored turns said about the same speaker.
      if (turn.speaker_role && turn.speaker && !turn.role_corrected && !S.roles[turn.speaker]) S.roles[turn.speaker] = turn.speaker_role;
      const role = turn.speaker_role || S.roles[turn.speaker];
      const who = role ? role[0].toUpperCase() + role.slice(1) : "Speaker";
      return turn.speaker ? `${who} (${turn.speaker})` : who;
    }
    // Denied concepts are one grey label ("denies: fever, chest pain"), never a chip that
    // reads like a finding.
    function deniedLabel(flags) {
      const terms = flags.filter((f) => f.assertion === "negated").map((f) => f.term);
      return terms.length ? [el("span", { class: "label denied", title: "denied by the patient", text: `denies: ${terms.join(", ")}` })] : [];
    }
    function roleSelect(turn) {
      if (!mayWrite || !S.enc || S.enc.status === "signed" || S.enc.status === "recording") return null;
      const select = el("select", { class: "turn-role", "aria-label": `Who said turn ${turn.seq + 1}` },
        ...[["", "as its speaker"], ["clinician", "Clinician"], ["patient", "Patient"], ["other", "Other"]].map(([v, t]) => el("option", { value: v, text: t })));
      select.value = turn.role_corrected ? turn.speaker_role || "" : "";
      select.addEventListener("change", async () => {
        const resp = await api("PUT", `${base}/turns/${turn.seq}/role`, { json: { role: select.value || null } });
        if (!resp.ok) { toast(await detail(resp), "error"); return; }
        toast("Speaker corrected. Regenerate the note to use it.");
        await loadTranscript();
      });
      return select;
    }
    function turnItem(turn) {
      const edited = turn.original_text && turn.text !== turn.original_text;
      const at = Math.floor((turn.start_ms || 0) / 1000);
      const label = speakerLabel(turn);
      return el("li", { class: `turn speaker-${(turn.speaker_role || S.roles[turn.speaker] || "other")}`, "data-seq": turn.seq, id: `turn-${turn.seq}` },
        el("div", { class: "turn-head" },
          el("span", { class: "speaker", text: label }),
          el("span", { class: "time", text: `${pad(Math.floor(at / 60))}:${pad(at % 60)}` }),
          edited ? el("span", { class: "label edited", text: "edited" }) : null,
          ...(turn.flags || []).filter((f) => (f.assertion || "present") === "present").map((f) => el("span", { class: `label flag kind-${f.kind}`, title: f.kind, text: `${f.kind}: ${f.term}` })),
          ...deniedLabel(turn.flags || []),
          roleSelect(turn)),
        el("p", { class: "turn-text", text: turn.text }),
        edited ? el("p", { class: "original", text: `original: ${turn.original_text}` }) : null);
    }
    function upsertTurn(turn) {
      const node = turnItem(turn);
      const old = document.getElementById(`turn-${turn.seq}`);
      if (old) { old.replaceWith(node); return; }  // an edited turn replaces its draft in place
      const after = $$("li.turn", turnsBox).find((li) => Number(li.dataset.seq) > turn.seq);
      turnsBox.insertBefore(node, after || null);
    }
    async function loadTranscript() {
      const resp = await api("GET", `${base}/transcript`);
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      const t = await resp.json();
      S.turns = t.turns;
      turnsBox.replaceChildren(...t.turns.map(turnItem));
      if (S.selected) highlight(S.selected);  // keep the selected statement's turns marked
      const missing = $("#missing");
      missing.hidden = !t.missing_seqs.length;
      missing.textContent = t.missing_seqs.length ? `Turns that never arrived: ${t.missing_seqs.join(", ")}` : "";
    }
    $("#show-original").addEventListener("change", (e) => root.classList.toggle("show-original", e.target.checked));

    // -- note, evidence
    function fillForm(note) {
      for (const k of SECTIONS) {
        const box = $(`#sec-${k}`);
        box.value = (note.sections[k] || []).join("\n");
        box.rows = Math.min(14, Math.max(3, (note.sections[k] || []).length + 1));
      }
      S.dirty = false;
    }
    function formSections() {
      const out = {};
      for (const k of SECTIONS) out[k] = $(`#sec-${k}`).value.split("\n").map((s) => s.trim()).filter(Boolean);
      return out;
    }
    function highlight(seqs) {
      $$("li.turn.hl", turnsBox).forEach((li) => li.classList.remove("hl"));
      const hit = seqs.map((s) => document.getElementById(`turn-${s}`)).filter(Boolean);
      hit.forEach((li) => li.classList.add("hl"));
      if (hit.length) hit[0].scrollIntoView({ block: "nearest", behavior: "smooth" });
      return hit.length;
    }
    function renderEvidence(note) {
      const box = $("#evidence");
      const statements = Array.isArray(note.statements) ? note.statements : [];
      box.replaceChildren();
      box.hidden = !statements.length;  // absent fields: no evidence, nothing to show
      if (!statements.length) return;
      const high = Number(note.open_high_flags || 0);
      box.append(el("p", { class: high ? "alert" : "hint",
        text: high ? `${high} high-severity statement(s) are not supported by the transcript. Select a statement to see its turns.`
          : "Select a statement to see the turns it rests on." }));
      for (const k of SECTIONS) {
        const mine = statements.filter((s) => s.section === k);
        if (!mine.length) continue;
        box.append(el("h3", { text: k[0].toUpperCase() + k.slice(1) }));
        box.append(el("ul", { class: "statements" }, mine.map((s) => el("li", {},
          el("button", {
            type: "button", class: `statement${(s.flags || []).length ? " flagged" : ""}${(s.seqs || []).length ? "" : " unlinked"}`, "data-statement": s.id,
            title: (s.seqs || []).length ? "" : "No turn is linked to this statement.",
            "aria-pressed": "false",
            onclick: (e) => {
              $$("button.statement[aria-pressed=true]", box).forEach((b) => b.setAttribute("aria-pressed", "false"));
              e.currentTarget.setAttribute("aria-pressed", "true");
              S.selected = s.seqs || [];
              const n = highlight(S.selected);
              toast(n ? `Statement rests on ${n} turn(s), highlighted.` : "No turn is linked to this statement.");
            },
          }, el("span", { text: s.text }),
          // Meaning flags carry what was said ("said: no chest pain"): shown, not hidden in a tooltip.
          ...(s.flags || []).map((f) => el("span", { class: `label flag sev-${f.severity}`, title: f.message, text: `${f.severity} · ${f.kind}: ${f.term}${(f.message || "").startsWith("said: ") ? ` (${f.message})` : ""}` })))))));
      }
    }
    async function loadNote() {
      const resp = await api("GET", `${base}/note`);
      if (resp.status === 404) {
        S.note = null;
        $("#note-empty").hidden = false;
        form.hidden = true;
        $("#note-meta").textContent = "";
        showActions();
        return;
      }
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      const note = await resp.json();
      const changed = !S.note || S.note.etag !== note.etag;
      S.note = note;
      const problem = $("#note-problem");
      problem.hidden = !note.problem;
      problem.textContent = note.problem ? `Review needed: ${note.problem}` : "";
      $("#note-empty").hidden = true;
      form.hidden = false;
      $("#note-meta").textContent = `v${note.version} · ${KIND_WORDS[note.kind] || note.kind}${note.author && note.author !== "system" ? ` by ${note.author}` : ""}`;
      if (changed && !S.dirty) fillForm(note);
      renderEvidence(note);
      renderLock(note);
      showActions();
      if (!S.draftChecked && mayWrite && !signed()) await restoreDraft();
      S.draftChecked = true;
    }
    const KIND_WORDS = { generated: "written by the scribe", regenerated: "written again", edited: "edited", addendum: "addendum" };
    // A signed note is locked: the form is read-only, the addendum form takes its place.
    function renderLock(note) {
      const locked = Boolean(note.signed_at);
      const lock = $("#locked");
      lock.hidden = !locked;
      lock.textContent = locked ? `Signed by ${note.signed_by} on ${fmtTime(note.signed_at)}. The note is locked; add an addendum to correct or complete it.` : "";
      for (const k of SECTIONS) $(`#sec-${k}`).readOnly = locked || !mayWrite;
      for (const id of ["#save", "#sign", "#discard"]) { const b = $(id); if (b) b.hidden = locked || (id === "#discard" && !S.dirty); }
      const add = $("#addendum-form");
      if (add) add.hidden = !locked;
      const box = $("#addenda");
      const addenda = note.addenda || [];
      box.hidden = !addenda.length;
      box.replaceChildren(...(addenda.length ? [el("h3", { text: "Addenda" })] : []),
        ...addenda.map((a) => el("div", { class: "addendum-item" },
          el("p", { class: "meta", text: `Addendum ${fmtTime(a.at)} by ${a.author}` }),
          el("p", { text: a.text }))));
    }

    // -- drafts: the form is kept on the server as the clinician types (never in the browser)
    function draftState(text) { const d = $("#draft-state"); if (d) d.textContent = text; }
    function markDirty() {
      S.dirty = true;
      const discard = $("#discard");
      if (discard) discard.hidden = false;
      if (!mayWrite || !S.note || signed()) return;
      clearTimeout(S.draftTimer);
      draftState("Unsaved changes…");
      S.draftTimer = setTimeout(saveDraft, 800);
    }
    async function saveDraft() {
      if (!S.dirty || !S.note || signed()) return;
      const resp = await api("PUT", `${base}/note/draft`, { json: { sections: formSections(), base_version: S.note.version } });
      if (resp.ok) {
        const now = new Date();
        draftState(`Draft kept ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())} (not yet saved as a version)`);
        S.draftSaved = true;
      } else draftState("Draft not kept: " + await detail(resp));
    }
    async function restoreDraft() {
      const resp = await api("GET", `${base}/note/draft`);
      if (resp.status !== 200) return;
      const draft = await resp.json();
      fillForm(draft);
      S.dirty = true;
      const discard = $("#discard");
      if (discard) discard.hidden = false;
      const note = $("#draft-restored");
      note.hidden = false;
      note.textContent = `Your unsaved changes from ${fmtTime(draft.updated_at)} are back in the form.` +
        (draft.base_version !== S.note.version ? ` They were made on version ${draft.base_version}; the note is now version ${S.note.version}: check before saving.` : " Save them, or discard them.");
      draftState("Draft kept (not yet saved as a version)");
    }
    form.addEventListener("input", markDirty);
    const discardBtn = $("#discard");
    if (discardBtn) discardBtn.addEventListener("click", async () => {
      clearTimeout(S.draftTimer);
      await api("DELETE", `${base}/note/draft`);
      S.dirty = false;
      fillForm(S.note);
      discardBtn.hidden = true;
      $("#draft-restored").hidden = true;
      draftState("");
      toast("Your changes were discarded.");
    });
    window.addEventListener("beforeunload", (e) => {
      if (S.source) S.source.close();
      if (S.dirty && !leaving) { e.preventDefault(); e.returnValue = ""; }  // "Leave site?"
    });

    // -- versions and diff
    function showVersion(index) {
      const v = S.versions[index];
      const prev = S.versions[index - 1];
      $$("#versions button").forEach((b, i) => b.setAttribute("aria-pressed", String(i === index)));
      $("#diff-title").textContent = prev ? `v${prev.version} → v${v.version}` : `v${v.version} (first version)`;
      renderDiff($("#diff"), prev ? prev.text : "", v.text);
    }
    async function loadVersions() {
      const resp = await api("GET", `${base}/note/versions`);
      if (!resp.ok) return;
      S.versions = (await resp.json()).versions;
      $("#versions").replaceChildren(...S.versions.map((v, i) => el("li", {},
        el("button", { type: "button", class: "version", "aria-pressed": "false", onclick: () => showVersion(i) },
          `v${v.version} · ${v.kind}${v.author ? ` · ${v.author}` : ""} · ${fmtTime(v.created_at)}${v.signed_at ? " · signed" : ""}`))));
      if (S.versions.length) showVersion(S.versions.length - 1);
      else $("#diff").replaceChildren(el("p", { class: "hint", text: "No versions yet." }));
    }

    async function loadAll() {
      let enc;
      try {
        const resp = await api("GET", base);
        if (!resp.ok) { toast(await detail(resp), "error"); return; }
        enc = await resp.json();
        S.roles = enc.speaker_roles || {};
        renderFacts(enc);
        await Promise.all([loadTranscript(), loadNote(), loadVersions()]);
      } catch (err) {
        // The network is down (or the server restarts): try again, a little later each time.
        S.failures = Math.min((S.failures || 0) + 1, 6);
        liveState("connection lost; retrying…");
        setTimeout(loadAll, 500 * 2 ** S.failures);
        return;
      }
      S.failures = 0;
      if (LIVE_STATUSES.has(enc.status)) follow();
      else if (!S.source) liveState("");
    }

    // -- live follow (Server-Sent Events with the session cookie)
    function liveState(text) { $("#live-state").textContent = text; }
    function follow() {
      if (S.source) return;
      const es = new EventSource(`${base}/events`);
      S.source = es;
      // "live" only once the stream is open: what is published from then on is shown.
      liveState("connecting…");
      es.addEventListener("open", () => { S.retry = 0; liveState("● live"); });
      es.addEventListener("status", (e) => {
        const { status } = JSON.parse(e.data);
        if (S.enc && status) renderFacts({ ...S.enc, status });
      });
      es.addEventListener("partial", (e) => {
        const { text } = JSON.parse(e.data);
        partialBox.hidden = !text;
        partialBox.textContent = text;
      });
      es.addEventListener("turn", (e) => {
        upsertTurn(JSON.parse(e.data));
        partialBox.hidden = true;
      });
      es.addEventListener("end", () => {
        es.close();
        S.source = null;
        partialBox.hidden = true;
        liveState("");
        loadAll();
      });
      es.addEventListener("error", () => {
        // The browser reconnects by itself (with Last-Event-ID) unless the stream was
        // refused or closed; then we reconnect ourselves after reloading what we missed.
        if (es.readyState === EventSource.CONNECTING) { liveState("reconnecting…"); return; }
        es.close();
        S.source = null;
        S.retry = Math.min(S.retry + 1, 6);
        liveState("connection lost; reconnecting…");
        setTimeout(() => loadAll(), 500 * 2 ** S.retry);
      });
    }

    // -- save with conflict handling; true when the form is now the current version
    async function saveNow() {
      if (!S.note) return false;
      clearTimeout(S.draftTimer);
      const sections = formSections();
      const resp = await api("PUT", `${base}/note`, { json: { sections }, headers: { "If-Match": S.note.etag } });
      if (resp.ok) {
        S.dirty = false;
        S.note = null;
        $("#conflict").hidden = true;
        $("#draft-restored").hidden = true;
        draftState("");
        await Promise.all([loadNote(), loadVersions()]);
        const r = await api("GET", base);
        if (r.ok) renderFacts(await r.json());
        toast(`Saved as version ${S.note ? S.note.version : ""}.`);
        return true;
      }
      if (resp.status === 412) {
        const current = await api("GET", `${base}/note`);
        if (!current.ok) { toast(await detail(current), "error"); return false; }
        S.theirs = await current.json();
        $("#conflict-version").textContent = `v${S.theirs.version}`;
        $("#conflict-author").textContent = S.theirs.author || "someone";
        renderDiff($("#conflict-diff"), sectionsText(S.theirs.sections), sectionsText(sections), ["only in theirs", "only in yours"]);
        $("#conflict").hidden = false;
        $("#take-theirs").focus();
        return false;
      }
      toast(await detail(resp), "error");
      return false;
    }
    form.addEventListener("submit", (e) => { e.preventDefault(); saveNow(); });
    $("#take-theirs").addEventListener("click", () => {
      S.note = S.theirs;
      fillForm(S.theirs);
      renderEvidence(S.theirs);
      $("#conflict").hidden = true;
      if (mayWrite) api("DELETE", `${base}/note/draft`);  // my edit is dropped: its draft too
      draftState("");
      loadVersions();
      toast(`Showing version ${S.theirs.version}.`);
    });
    $("#keep-mine").addEventListener("click", () => {
      // Their version becomes the base; the form keeps my text, so Save writes mine after theirs.
      S.note = S.theirs;
      S.dirty = true;
      $("#conflict").hidden = true;
      loadVersions();
      toast(`Your edit now applies on top of version ${S.theirs.version}: check it and press Save.`);
      $("#save").focus();
    });

    // -- sign: what is attested, and for each open high flag what the transcript said
    const dialog = $("#sign-dialog");
    const ack = $("#sign-ack");
    function saidFor(statement) {
      const turns = (statement.seqs || []).map((seq) => S.turns.find((t) => t.seq === seq)).filter(Boolean);
      if (!turns.length) return [el("p", { class: "said none", text: "No turn of the transcript is linked to this statement." })];
      return turns.map((t) => el("blockquote", { class: "said" },
        el("span", { class: "k", text: `${speakerLabel(t)}: ` }), t.text));
    }
    // One-click fix: take the statement out of the form (the clinician then signs again).
    function removeStatement(statement) {
      const box = $(`#sec-${statement.section}`);
      const lines = box.value.split("\n");
      const at = lines.findIndex((line) => line.trim() === statement.text.trim());
      if (at < 0) { toast("That statement is no longer in the form.", "error"); return; }
      lines.splice(at, 1);
      box.value = lines.join("\n");
      markDirty();
      dialog.close("cancel");
      toast("Statement removed. Check the note, then Save & sign again.");
      box.focus();
    }
    // The high flags known for the text in the form: those of the loaded version whose
    // statement is still a line of its section. New text is checked by the server when
    // signing; a flag it finds there comes back listed, and nothing is saved until then.
    function knownFlags() {
      if (!S.note) return [];
      const form = formSections();
      return (S.note.statements || [])
        .map((st) => ({ ...st, flags: (st.flags || []).filter((f) => f.severity === "high") }))
        .filter((st) => st.flags.length && (form[st.section] || []).includes(st.text.trim()));
    }
    function openSign(flagged = knownFlags(), refused = "") {
      if (!S.note) return;
      const note = S.note;
      const sections = formSections();
      const high = flagged.reduce((n, st) => n + st.flags.length, 0);
      const enc = S.enc || {};
      S.signFlags = flagged;
      $("#sign-version").textContent = S.dirty
        ? `your changes to version ${note.version} (saved as version ${note.version + 1})`
        : `version ${note.version}`;
      $("#sign-who").textContent = enc.patient ? ` for ${patientText(enc.patient)}` : "";
      $("#sign-summary").replaceChildren(
        el("li", { text: `Visit: ${fmtTime(enc.started_at)}${enc.visit_reason ? ` · ${enc.visit_reason}` : ""} · room ${enc.room || "–"}` }),
        el("li", { text: `Clinician: ${enc.clinician || "–"}` }),
        el("li", { text: SECTIONS.map((k) => `${k[0].toUpperCase()}${k.slice(1)} ${(sections[k] || []).length}`).join(" · ") + " statement(s)" }),
        el("li", { text: `Written by ${S.dirty ? "you (your changes)" : note.author && note.author !== "system" ? note.author : `the scribe (${modelName(note.model || enc.llm_model || "")})`}; ${Number(note.missing_seqs ? note.missing_seqs.length : 0) ? "some turns never arrived" : "from the whole transcript"}` }));
      const why = $("#sign-refused");
      why.hidden = !refused;
      why.textContent = refused ? `Not signed yet: ${refused}` : "";
      $("#sign-flags").hidden = !high;
      ack.checked = false;
      $("#sign-confirm").disabled = high > 0;
      if (high) {
        $("#sign-flag-count").textContent = String(high);
        const flags = flagged.flatMap((st) => st.flags.map((f) => [st, f]));
        $("#sign-flag-list").replaceChildren(...flags.map(([st, f]) => el("li", { class: "sign-flag" },
          el("p", {}, el("span", { class: "label flag sev-high", text: `${f.kind}: ${f.term}` }), ` ${st.text}`),
          el("p", { class: "meta", text: f.message }),
          el("div", { class: "said-box" }, el("p", { class: "k", text: "The transcript said:" }), ...saidFor(st)),
          mayWrite ? el("button", { type: "button", class: "secondary small", onclick: () => removeStatement(st) }, "Remove this statement") : null)));
      }
      dialog.showModal();
    }
    ack.addEventListener("change", () => { $("#sign-confirm").disabled = !ack.checked; });
    // One request saves the form (if it changed), records the attestation and signs; the
    // high flags the clinician saw and acknowledged travel with it (by text, not position).
    dialog.addEventListener("close", async () => {
      if (dialog.returnValue !== "sign" || !S.note) return;
      clearTimeout(S.draftTimer);
      const shown = ack.checked ? (S.signFlags || []).flatMap((st) => st.flags.map((f) => ({ statement: st.text, term: f.term }))) : [];
      S.acked = [...(S.acked || []), ...shown];
      const json = { sections: formSections(), attest: true, acknowledged: S.acked };
      const resp = await api("POST", `${base}/note/save-and-sign`, { json, headers: { "If-Match": S.note.etag } });
      if (resp.ok) {
        const done = await resp.json();
        toast(`Version ${done.version} signed.`);
        S.dirty = false;
        S.acked = [];
        S.note = null;
        $("#draft-restored").hidden = true;
        draftState("");
        await loadAll();
        return;
      }
      let refused = null;
      if (resp.status === 409) {
        try { refused = await resp.clone().json(); } catch (_) { refused = null; }
      }
      if (refused && Array.isArray(refused.flags) && refused.flags.length) {
        openSign(refused.flags, refused.detail);  // nothing was saved: review and sign again
        return;
      }
      if (resp.status === 412) toast("The note changed since you read it: reload the page and check it before signing.", "error");
      else toast(await detail(resp), "error");
    });
    // "Save & sign": the summary of what is attested first; the text is saved with the signature.
    const signBtn = $("#sign");
    if (signBtn) signBtn.addEventListener("click", () => { S.acked = []; openSign(); });

    // -- addendum to a signed note
    const addForm = $("#addendum-form");
    if (addForm) addForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = $("#addendum-text").value.trim();
      if (!text) { toast("Write the addendum first.", "error"); return; }
      const resp = await api("POST", `${base}/note/addendum`, { json: { text }, headers: { "If-Match": S.note.etag } });
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      $("#addendum-text").value = "";
      toast("Addendum added.");
      S.note = null;
      await loadAll();
    });

    // -- speakers
    const swap = $("#swap-speakers");
    if (swap) swap.addEventListener("click", async () => {
      const resp = await api("POST", `${base}/speakers/swap`);
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      S.roles = (await resp.json()).speaker_roles;
      await loadTranscript();
      toast("Clinician and patient swapped. Regenerate the note to use it.");
    });

    // -- regenerate (asks first: the clinician's edits stay in the history)
    const regen = $("#regen-form");
    const regenDialog = $("#regen-dialog");
    if (regen) $("#regen-model").addEventListener("change", () => { S.modelChosen = true; });
    if (regen) regen.addEventListener("submit", (e) => {
      e.preventDefault();
      const model = $("#regen-model").value;
      const edited = S.note && S.note.author && S.note.author !== "system";
      $("#regen-what").textContent = `The scribe writes the note again from the transcript with ${modelName(model)}.` +
        (edited ? ` Your edited version ${S.note.version} stays in the version history; copy anything you need from it.` : "");
      regenDialog.showModal();
    });
    if (regenDialog) regenDialog.addEventListener("close", async () => {
      if (regenDialog.returnValue !== "regenerate") return;
      const model = $("#regen-model").value;
      const resp = await api("POST", `${base}/note/regenerate`, { json: { model } });
      if (resp.status === 202) {
        toast(`The note is being written again with ${modelName(model)}.`);
        await loadAll();
        follow();
      } else toast(await detail(resp), "error");
    });

    // -- copy for the EHR: clean text, one statement per line
    function cleanSection(k) {
      return $(`#sec-${k}`).value.split("\n").map((line) => line.trim()).filter(Boolean).join("\n");
    }
    $$("[data-copy]").forEach((b) => b.addEventListener("click", async () => {
      const which = b.dataset.copy;
      let text;
      if (which === "all") {
        text = SECTIONS.map((k) => `${k[0].toUpperCase()}${k.slice(1)}:\n${cleanSection(k)}`).join("\n\n");
        for (const a of (S.note && S.note.addenda) || []) text += `\n\nAddendum ${fmtTime(a.at)} by ${a.author}:\n${a.text}`;
      } else text = cleanSection(which);
      await copyText(text);
      toast(which === "all" ? "The whole note is copied." : `${which[0].toUpperCase()}${which.slice(1)} copied.`);
    }));

    // -- downloads (Blob URLs: no patient data in any address)
    $$("[data-download]").forEach((b) => b.addEventListener("click", async () => {
      const kind = b.dataset.download;
      if (kind === "note" && !S.note) { toast("No note yet.", "error"); return; }
      // The note file carries its header: DRAFT — NOT SIGNED, or who signed it and when.
      const resp = kind === "fhir" ? await api("GET", `${base}/fhir`)
        : await api("GET", kind === "note" ? `${base}/note` : `${base}/transcript`, { accept: "text/plain" });
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      const name = kind === "fhir" ? `${id}-fhir.json` : kind === "note" ? `${id}-note-v${S.note.version}.txt` : `${id}-transcript.txt`;
      download(name, await resp.blob());
    }));

    loadAll();
  }

  // ---------------------------------------------------------------- after-visit summary
  // What the patient takes home: plain words from the signed note. A failed check (a
  // statement the signed note does not support) is shown on top and on the statement.
  function summaryPage(root) {
    const id = root.dataset.encounterId;
    const base = `/v1/encounters/${encodeURIComponent(id)}`;
    const HEADINGS = { reason: "Why you came in", findings: "What we found", next_steps: "What to do next" };
    function render(sum) {
      $("#summary-empty").hidden = true;
      const flagged = new Map();
      for (const st of sum.statements || []) {
        const high = (st.flags || []).filter((f) => f.severity === "high");
        if (high.length) flagged.set(`${st.section}:${st.index}`, high);
      }
      $("#summary-body").replaceChildren(...Object.entries(HEADINGS).flatMap(([key, heading]) => {
        const items = (sum.sections[key] || []);
        return [el("h2", { text: heading }), el("ul", {}, ...(items.length ? items : ["Nothing to add."]).map((text, i) => {
          const high = flagged.get(`${key}:${i}`);
          return el("li", { class: high ? "unsupported" : "" }, text,
            high ? el("span", { class: "label flag sev-high no-print", text: ` not in the signed note: ${high.map((f) => f.term).join(", ")}` }) : null);
        }))];
      }));
      const check = $("#summary-check");
      check.hidden = sum.check !== "flagged";
      check.textContent = sum.check === "flagged"
        ? `Check failed: ${sum.open_high_flags} statement(s) are not supported by the signed note (marked below). Correct the note or write the summary again before giving it to the patient.`
        : "";
      $("#summary-outdated").hidden = !sum.outdated;
      $("#summary-meta").textContent = `Written ${fmtTime(sum.created_at)} from the note signed (version ${sum.note_version}), checked against it: ${sum.check === "passed" ? "nothing unsupported" : "see above"}.`;
      $("#summary-print").hidden = false;
      $("#summary-download").hidden = false;
      const write = $("#summary-write");
      if (write) write.textContent = "Write it again";
    }
    async function load() {
      const [encResp, sumResp] = await Promise.all([api("GET", base), api("GET", `${base}/summary`)]);
      if (encResp.ok) {
        const enc = await encResp.json();
        $("#summary-who").textContent = [patientText(enc.patient), `Visit ${fmtTime(enc.started_at)}`, enc.clinician ? `Clinician ${enc.clinician}` : ""].filter(Boolean).join(" · ");
        const write = $("#summary-write");
        if (write) write.hidden = enc.status !== "signed";
        if (enc.status !== "signed") $("#summary-empty").textContent = "The after-visit summary is written from the signed note: sign the note first.";
      }
      if (sumResp.ok) render(await sumResp.json());
    }
    const write = $("#summary-write");
    if (write) write.addEventListener("click", async () => {
      write.disabled = true;
      toast("Writing the summary…");
      const resp = await api("POST", `${base}/summary`, { json: {} });
      write.disabled = false;
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      const sum = await resp.json();
      render(sum);
      toast(sum.check === "passed" ? "Summary written and checked against the signed note." : "Summary written: the check found statements the signed note does not support.", sum.check === "passed" ? "info" : "error");
    });
    $("#summary-print").addEventListener("click", () => window.print());
    $("#summary-download").addEventListener("click", async () => {
      const resp = await api("GET", `${base}/summary`, { accept: "text/plain" });
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      download(`${id}-after-visit-summary.txt`, await resp.blob());
    });
    load();
  }

  // ---------------------------------------------------------------- admin pages' shared parts
  // A card that shows a secret (a new token, a sign-in link, a room's password) once,
  // until "Done" wipes it; returns the function that shows one.
  function secretCard(box, intro, value, done) {
    $(done).addEventListener("click", () => {
      $(value).textContent = "";
      $(box).hidden = true;
    });
    return (introText, secret) => {
      $(intro).textContent = introText;
      $(value).textContent = secret;
      $(box).hidden = false;
    };
  }

  // A form that creates something: POST body(its fields) to path, then shown(the answer),
  // an empty form and a reloaded list.
  function createForm(form, path, body, shown, reload) {
    $(form).addEventListener("submit", async (e) => {
      e.preventDefault();
      const resp = await api("POST", path, { json: body(new FormData(e.target)) });
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      shown(await resp.json());
      e.target.reset();
      reload();
    });
  }

  // A list row's Revoke button: confirm, DELETE path, say how it went, reload the list.
  function revokeButton(name, question, path, reload) {
    return el("button", {
      type: "button", class: "secondary danger", "aria-label": `Revoke ${name}`,
      onclick: async () => {
        if (!window.confirm(question)) return;
        const r = await api("DELETE", path);
        toast(r.ok ? `${name} revoked.` : await detail(r), r.ok ? "info" : "error");
        reload();
      },
    }, "Revoke");
  }

  // ---------------------------------------------------------------- tokens (admin)
  function tokensPage() {
    const rows = $("#token-rows");
    const showSecret = secretCard("#new-secret", "#secret-intro", "#secret-value", "#secret-done");
    async function load() {
      const resp = await api("GET", "/v1/tokens");
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      const { items } = await resp.json();
      rows.replaceChildren(...items.map((t) => el("tr", { "data-token": t.name },
        el("td", { "data-label": "Name", text: t.name }), el("td", { "data-label": "Role", text: t.role }),
        el("td", { "data-label": "Clinician", text: t.clinician_id || "–" }),
        el("td", { "data-label": "Created", text: fmtTime(t.created_at) }),
        el("td", { "data-label": "Last used", text: fmtTime(t.last_used_at) }),
        el("td", { "data-label": "State" }, t.revoked_at ? el("span", { class: "badge status-failed", text: "revoked" }) : el("span", { class: "badge status-ready", text: "active" })),
        el("td", {}, t.revoked_at ? "" : el("button", {
          type: "button", class: "secondary small", "aria-label": `Sign-in link for ${t.name}`,
          onclick: async () => {
            const r = await api("POST", `/v1/tokens/${t.id}/signin-link`);
            if (!r.ok) { toast(await detail(r), "error"); return; }
            const link = await r.json();
            showSecret(`A personal sign-in link for ${t.name}: it works once, for ${Math.round(link.expires_in_s / 3600)} hours. Send it to them:`,
              `${window.location.origin}${link.url}`);
          },
        }, "Sign-in link"), t.revoked_at ? "" : revokeButton(t.name,
          `Revoke the token ${t.name}? Its sessions end too.`, `/v1/tokens/${t.id}`, load)))));
    }
    createForm("#token-form", "/v1/tokens", (data) => {
      const json = { name: data.get("name"), role: data.get("role") };
      const clinician = (data.get("clinician_id") || "").toString().trim();
      if (clinician) json.clinician_id = clinician;
      return json;
    }, (created) => showSecret("The new token, shown only now. Give it to its owner (or send them a sign-in link from the list below):",
      created.token), load);
    load();
  }

  // ---------------------------------------------------------------- rooms' credentials (admin)
  function roomsPage() {
    const rows = $("#room-rows");
    const showSecret = secretCard("#room-secret", "#room-secret-intro", "#room-secret-value", "#room-secret-done");
    async function load() {
      const resp = await api("GET", "/v1/admin/rooms");
      if (!resp.ok) { $("#rooms-unavailable").textContent = await detail(resp); $("#rooms-unavailable").hidden = false; return; }
      const { items } = await resp.json();
      rows.replaceChildren(...items.map((r) => el("tr", { "data-room": r.name },
        el("td", { "data-label": "Room", text: r.name }), el("td", { "data-label": "Redis user", class: "mono", text: r.user }),
        el("td", { "data-label": "Created", text: r.created_at }),
        el("td", { "data-label": "State" }, r.active ? el("span", { class: "badge status-ready", text: "active" }) : el("span", { class: "badge status-failed", text: "no credentials" })),
        el("td", {}, revokeButton(r.name,
          `Revoke the credentials of room ${r.name}? Its machine is disconnected at once and cannot record until it gets new ones.`,
          `/v1/admin/rooms/${encodeURIComponent(r.name)}`, load)))));
    }
    createForm("#room-form", "/v1/admin/rooms", (data) => ({ name: data.get("name") }),
      (created) => showSecret(`Room ${created.name}: Redis user ${created.user}. The password, shown only now; put it in the room machine's MEDSCRIBE_REDIS_URL (redis://${created.user}:PASSWORD@<clinic server>:6379/0):`,
        created.password), load);
    load();
  }

  // ---------------------------------------------------------------- audit log
  function auditPage() {
    const form = $("#audit-filters");
    const rows = $("#audit-rows");
    const more = $("#audit-more");
    let cursor = null;
    async function load(append) {
      const params = new URLSearchParams({ limit: "100" });
      const data = new FormData(form);
      for (const key of ["actor", "action", "encounter_id"]) {
        const value = (data.get(key) || "").toString().trim();
        if (value) params.set(key, value);
      }
      const since = dayStart((data.get("since") || "").toString());
      if (since) params.set("since", since);
      if (append && cursor) params.set("cursor", cursor);
      const resp = await api("GET", `/v1/audit?${params}`);
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      const page = await resp.json();
      const items = page.items.map((a) => el("tr", { "data-action": a.action },
        el("td", { "data-label": "When", text: fmtTime(a.at) }), el("td", { "data-label": "Actor", text: a.actor }),
        el("td", { "data-label": "Role", text: a.role || "–" }), el("td", { "data-label": "Action", text: a.action }),
        el("td", { "data-label": "Encounter", class: "mono", text: a.encounter_id || "–" }),
        el("td", { "data-label": "Target", text: a.target || "–" }),
        el("td", { "data-label": "Status", class: a.status >= 400 ? "bad" : "", text: String(a.status) }),
        el("td", { "data-label": "From", text: a.source_ip || "–" })));
      if (append) rows.append(...items); else rows.replaceChildren(...items);
      cursor = page.next_cursor;
      more.hidden = !cursor;
    }
    form.addEventListener("submit", (e) => { e.preventDefault(); load(false); });
    form.addEventListener("reset", () => setTimeout(() => load(false), 0));
    more.addEventListener("click", () => load(true));
    load(false);
  }

  // A call that failed on the network (server restarting, connection down): say so.
  window.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    toast("The server did not answer. Check the connection and try again.", "error");
  });

  document.addEventListener("DOMContentLoaded", () => {
    const enc = $("#encounter");
    if (enc) encounterPage(enc);
    else if ($("#summary-page")) summaryPage($("#summary-page"));
    else if ($("#encounter-list")) encountersPage();
    else if ($("#token-rows")) tokensPage();
    else if ($("#room-rows")) roomsPage();
    else if ($("#audit-rows")) auditPage();
  });
})();
