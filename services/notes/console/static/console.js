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
      window.location.assign("/signin?expired=1");
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

  function badge(status) {
    return el("span", { class: `badge status-${status || "unknown"}`, text: (status || "unknown").replace("_", " ") });
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

    // The filters go in a POST body: search words never appear in a URL.
    function query(withCursor) {
      const search = { limit: 50 };
      const data = new FormData(form);
      for (const key of ["q", "status", "room", "clinician"]) {
        const value = (data.get(key) || "").toString().trim();
        if (value) search[key] = value;
      }
      const since = dayStart((data.get("since") || "").toString());
      if (since) search.started_after = since;
      if (withCursor && cursor) search.cursor = cursor;
      return search;
    }

    function item(enc) {
      const link = el("a", { href: `/encounters/${encodeURIComponent(enc.id)}`, class: "enc-link" },
        enc.patient ? el("span", { class: "enc-patient", text: patientText(enc.patient) }) : "",
        el("span", { class: "enc-id mono", text: enc.id }),
        badge(enc.status),
        el("span", { class: "enc-meta" },
          el("span", {}, el("span", { class: "k", text: "room " }), enc.room || "–"),
          el("span", {}, el("span", { class: "k", text: "clinician " }), enc.clinician || "–"),
          el("span", {}, el("span", { class: "k", text: "started " }), fmtTime(enc.started_at)),
          el("span", {}, el("span", { class: "k", text: "duration " }), fmtDuration(durationOf(enc)))));
      return el("li", { class: "enc", "data-id": enc.id, "data-status": enc.status }, link);
    }

    async function load(append = false) {
      let resp;
      try {
        resp = await api("POST", "/v1/encounters/search", { json: query(append) });
      } catch (err) {
        state.textContent = "Connection lost; retrying…";
        return;
      }
      if (!resp.ok) {
        state.textContent = await detail(resp);
        return;
      }
      const page = await resp.json();
      const items = page.items.map(item);
      if (append) list.append(...items); else list.replaceChildren(...items);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      const now = new Date();
      state.textContent = list.children.length
        ? `${list.children.length} encounter(s) · updated ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())} · live`
        : "No encounters match.";
    }

    function schedule() {
      clearInterval(timer);
      // Live updates: the first page is fetched again every few seconds (statuses change
      // in several services; the list endpoint is where they all show).
      timer = setInterval(() => { if (!document.hidden && !extraPages) load(false); }, 4000);
    }
    form.addEventListener("submit", (e) => { e.preventDefault(); extraPages = false; load(false); schedule(); });
    form.addEventListener("reset", () => setTimeout(() => { extraPages = false; load(false); }, 0));
    more.addEventListener("click", () => { extraPages = true; load(true); });
    load(false);
    schedule();
  }

  // ---------------------------------------------------------------- one encounter
  function encounterPage(root) {
    const id = root.dataset.encounterId;
    const base = `/v1/encounters/${encodeURIComponent(id)}`;
    const turnsBox = $("#transcript");
    const partialBox = $("#partial");
    const form = $("#note-form");
    const S = { enc: null, note: null, theirs: null, versions: [], roles: {}, dirty: false, source: null, retry: 0 };

    // -- facts and status
    function renderFacts(enc) {
      S.enc = enc;
      const b = $("#status-badge");
      b.replaceWith(Object.assign(badge(enc.status), { id: "status-badge" }));
      const t = enc.timings || {};
      const facts = [
        ...(enc.patient ? [["Patient", patientText(enc.patient)]] : []),
        ...(enc.visit_reason ? [["Reason for visit", enc.visit_reason]] : []),
        ["Room", enc.room || "–"], ["Clinician", enc.clinician || "–"],
        ["Started", fmtTime(enc.started_at)], ["Recording", fmtDuration(t.recording_s ?? durationOf(enc))],
        ["Turns", `${enc.stored_turns}${enc.expected_turns ? ` of ${enc.expected_turns}` : ""}`],
        ["Note model", enc.llm_model || "–"], ["Speech model", enc.speech_model || "–"],
      ];
      if (t.note_lag_s !== null && t.note_lag_s !== undefined) facts.push(["Note after", fmtDuration(t.note_lag_s)]);
      if (enc.failure_stage) facts.push(["Failed at", `${enc.failure_stage}: ${enc.failure_reason || ""}`]);
      $("#facts").replaceChildren(...facts.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v }))));
      const model = $("#regen-model");
      if (model && !S.modelChosen && [...model.options].some((o) => o.value === enc.llm_model)) model.value = enc.llm_model;
    }

    // -- transcript
    function speakerLabel(turn) {
      // Live turns carry no role: use what the stored turns said about the same speaker.
      if (turn.speaker_role && turn.speaker && !S.roles[turn.speaker]) S.roles[turn.speaker] = turn.speaker_role;
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
          ...deniedLabel(turn.flags || [])),
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
      const regen = $("#regen-form");
      if (resp.status === 404) {
        S.note = null;
        if (regen) regen.hidden = true;
        $("#note-empty").hidden = false;
        form.hidden = true;
        $("#note-meta").textContent = "";
        return;
      }
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      const note = await resp.json();
      const changed = !S.note || S.note.etag !== note.etag;
      S.note = note;
      if (regen) regen.hidden = Boolean(note.signed_at);  // a signed note gets an addendum instead
      const problem = $("#note-problem");
      problem.hidden = !note.problem;
      problem.textContent = note.problem ? `Review needed: ${note.problem}` : "";
      $("#note-empty").hidden = true;
      form.hidden = false;
      $("#note-meta").textContent = `v${note.version} · ${note.kind}${note.author ? ` by ${note.author}` : ""}${note.signed_at ? ` · signed by ${note.signed_by}` : ""}`;
      if (changed && !S.dirty) fillForm(note);
      renderEvidence(note);
      const sign = $("#sign");
      if (sign) sign.disabled = Boolean(note.signed_at);
    }
    form.addEventListener("input", () => { S.dirty = true; });

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
      liveState("● live");
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

    // -- save with conflict handling
    async function save(e) {
      e.preventDefault();
      if (!S.note) return;
      const sections = formSections();
      const resp = await api("PUT", `${base}/note`, { json: { sections }, headers: { "If-Match": S.note.etag } });
      if (resp.ok) {
        S.dirty = false;
        S.note = null;
        $("#conflict").hidden = true;
        await Promise.all([loadNote(), loadVersions()]);
        const r = await api("GET", base);
        if (r.ok) renderFacts(await r.json());
        toast(`Saved as version ${S.note ? S.note.version : ""}.`);
        return;
      }
      if (resp.status === 412) {
        const current = await api("GET", `${base}/note`);
        if (!current.ok) { toast(await detail(current), "error"); return; }
        S.theirs = await current.json();
        $("#conflict-version").textContent = `v${S.theirs.version}`;
        $("#conflict-author").textContent = S.theirs.author || "someone";
        renderDiff($("#conflict-diff"), sectionsText(S.theirs.sections), sectionsText(sections), ["only in theirs", "only in yours"]);
        $("#conflict").hidden = false;
        $("#take-theirs").focus();
        return;
      }
      toast(await detail(resp), "error");
    }
    form.addEventListener("submit", save);
    $("#take-theirs").addEventListener("click", () => {
      S.note = S.theirs;
      fillForm(S.theirs);
      renderEvidence(S.theirs);
      $("#conflict").hidden = true;
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

    // -- sign
    const dialog = $("#sign-dialog");
    const ack = $("#sign-ack");
    function openSign() {
      if (!S.note) return;
      if (S.dirty) { toast("Save your edit before signing.", "error"); return; }
      const high = Number(S.note.open_high_flags || 0);
      $("#sign-version").textContent = `v${S.note.version}`;
      $("#sign-flags").hidden = !high;
      ack.checked = false;
      $("#sign-confirm").disabled = high > 0;
      if (high) {
        $("#sign-flag-count").textContent = String(high);
        const flags = (S.note.statements || []).flatMap((s) => (s.flags || []).filter((f) => f.severity === "high").map((f) => [s, f]));
        $("#sign-flag-list").replaceChildren(...flags.map(([s, f]) => el("li", {},
          el("span", { class: "label flag sev-high", text: `${f.kind}: ${f.term}` }), ` ${s.text} — ${f.message}`)));
      }
      dialog.showModal();
    }
    ack.addEventListener("change", () => { $("#sign-confirm").disabled = !ack.checked; });
    dialog.addEventListener("close", async () => {
      if (dialog.returnValue !== "sign" || !S.note) return;
      const high = Number(S.note.open_high_flags || 0);
      const opts = { headers: { "If-Match": S.note.etag } };
      if (high) opts.json = { acknowledge_flags: ack.checked };
      const resp = await api("POST", `${base}/note/sign`, opts);
      if (resp.ok) {
        const signed = await resp.json();
        toast(`Version ${signed.version} signed.`);
        S.note = null;
        await loadAll();
        return;
      }
      if (resp.status === 412) toast("The note changed since you read it: reload the page and check it before signing.", "error");
      else toast(await detail(resp), "error");
    });
    const signBtn = $("#sign");
    if (signBtn) signBtn.addEventListener("click", openSign);

    // -- regenerate
    const regen = $("#regen-form");
    if (regen) $("#regen-model").addEventListener("change", () => { S.modelChosen = true; });
    if (regen) regen.addEventListener("submit", async (e) => {
      e.preventDefault();
      const model = $("#regen-model").value;
      const resp = await api("POST", `${base}/note/regenerate`, { json: { model } });
      if (resp.status === 202) {
        toast(`The note is being written again with ${model}.`);
        await loadAll();
        follow();
      } else toast(await detail(resp), "error");
    });

    // -- downloads (Blob URLs: no patient data in any address)
    $$("[data-download]").forEach((b) => b.addEventListener("click", async () => {
      const kind = b.dataset.download;
      if (kind === "note") {
        if (!S.note) { toast("No note yet.", "error"); return; }
        download(`${id}-note-v${S.note.version}.txt`, new Blob([S.note.text], { type: "text/plain" }));
        return;
      }
      const resp = kind === "fhir" ? await api("GET", `${base}/fhir`) : await api("GET", `${base}/transcript`, { accept: "text/plain" });
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      download(kind === "fhir" ? `${id}-fhir.json` : `${id}-transcript.txt`, await resp.blob());
    }));

    window.addEventListener("beforeunload", () => { if (S.source) S.source.close(); });
    loadAll();
  }

  // ---------------------------------------------------------------- tokens (admin)
  function tokensPage() {
    const rows = $("#token-rows");
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
          type: "button", class: "secondary danger", "aria-label": `Revoke ${t.name}`,
          onclick: async () => {
            if (!window.confirm(`Revoke the token ${t.name}? Its sessions end too.`)) return;
            const r = await api("DELETE", `/v1/tokens/${t.id}`);
            toast(r.ok ? `${t.name} revoked.` : await detail(r), r.ok ? "info" : "error");
            load();
          },
        }, "Revoke")))));
    }
    $("#token-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(e.target);
      const json = { name: data.get("name"), role: data.get("role") };
      const clinician = (data.get("clinician_id") || "").toString().trim();
      if (clinician) json.clinician_id = clinician;
      const resp = await api("POST", "/v1/tokens", { json });
      if (!resp.ok) { toast(await detail(resp), "error"); return; }
      const created = await resp.json();
      $("#secret-value").textContent = created.token;
      $("#new-secret").hidden = false;
      e.target.reset();
      load();
    });
    $("#secret-done").addEventListener("click", () => {
      $("#secret-value").textContent = "";
      $("#new-secret").hidden = true;
    });
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
    else if ($("#encounter-list")) encountersPage();
    else if ($("#token-rows")) tokensPage();
    else if ($("#audit-rows")) auditPage();
  });
})();
