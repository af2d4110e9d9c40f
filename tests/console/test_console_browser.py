"""The web console in a real headless Chromium (Playwright), against `medscribe demo`.

One demo run (simulators, bridge, editor, notes, the built-in visit played at x2) serves
the whole module: sign in with the demo's one-time link, watch the visit fill in live
manage tokens as the admin, sign out; then as
the clinician edit and save the note, run into a conflict, sign it; another clinician is
refused; the auditor finds it all in the audit log. Every page is checked at 360 px.

Screenshots go to a temporary folder, or to docs/screenshots/ with
MEDSCRIBE_SCREENSHOTS=docs/screenshots (how the README's pictures are made).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_demo import LineReader, demo_env
from tests.helpers.procs import medscribe_cmd
from tests.kit.console import WIDE, check_layout, wait_text

pytestmark = pytest.mark.browser

DEMO_TIMEOUT_S = 120  # bounds a hang only
WAIT_MS = 60_000


@dataclass(frozen=True)
class Demo:
    api: str
    link: str


def _field(lines: list[str], label: str) -> str:
    for line in lines:
        m = re.match(rf"\s+{label}\s+(\S+)", line)
        if m:
            return m.group(1)
    raise AssertionError(f"demo printed no {label!r} line:\n" + "\n".join(lines))


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, redis_server_url: str, browser: Any
) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp("console-demo")
    proc = subprocess.Popen(
        [*medscribe_cmd(), "demo", "--dir", str(tmp / "demo"), "--serve", "--time-scale", "2"],
        env=demo_env(tmp, redis_server_url), cwd=tmp, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    reader = LineReader(proc)
    try:
        lines = reader.until(r"^\s+console\s+http", DEMO_TIMEOUT_S)
        yield Demo(api=_api_of(lines), link=_field(lines, "console"))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _api_of(lines: list[str]) -> str:
    for line in lines:
        m = re.search(r"staff API (http://[0-9.:]+)", line)
        if m:
            return m.group(1)
    raise AssertionError("no staff API address printed")


def sign_in_with_form(page: Any, api: str, secret: str) -> None:
    page.goto(f"{api}/signin")
    page.get_by_text("Sign in with a sign-in key instead").click()
    page.get_by_label("Sign-in key (API token)").fill(secret)
    page.get_by_role("button", name="Sign in with the key").click()
    page.wait_for_url(re.compile(r"/(encounters|audit)$"))


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/signin$"))


def test_console_end_to_end(demo: Demo, browser: Any, shots: Path) -> None:
    api = demo.api
    requests: list[str] = []
    admin = browser.new_context(viewport=WIDE)
    page = admin.new_page()
    page.on("request", lambda r: requests.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    logs: list[str] = []
    page.on("console", lambda m: logs.append(m.text))

    # -- the demo's one-time link signs in (and works once only)
    page.goto(demo.link)
    page.wait_for_url(re.compile(r"/encounters$"))
    cookies = {c["name"]: c for c in admin.cookies()}
    session = cookies["medscribe_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert "medscribe_signin" not in cookies
    other = browser.new_context()
    reused = other.new_page().goto(demo.link)
    assert reused is not None
    assert reused.status == 401
    other.close()

    # -- the list shows the visit live (its status badge changes without a reload)
    item = page.locator("li.enc").first
    item.wait_for(timeout=WAIT_MS)
    encounter_id = item.get_attribute("data-id")
    assert encounter_id
    first_status = item.get_attribute("data-status")
    page.screenshot(path=str(shots / "encounters.png"))
    check_layout(page)

    # -- the live encounter: turns arrive while it records
    page.locator(f'li.enc[data-id="{encounter_id}"] a').click()
    page.wait_for_url(re.compile(rf"/encounters/{re.escape(encounter_id)}$"))
    assert first_status == "recording"
    wait_text(page, "status-badge", "t !== '…'")
    live_seen = False
    if page.locator("#status-badge").get_attribute("data-status") == "recording":
        wait_text(page, "live-state", "t.includes('live')")
        live_seen = True
        before = page.locator("li.turn").count()
        page.wait_for_function(
            f"() => document.querySelectorAll('li.turn').length > {before}", timeout=WAIT_MS
        )
        page.screenshot(path=str(shots / "live-visit.png"))
    assert live_seen, "the visit was over before the console saw it recording"
    page.wait_for_function(
        "() => ['ready', 'needs_review']"
        ".includes(document.getElementById('status-badge').dataset.status)",
        timeout=WAIT_MS * 2,
    )
    page.locator("#note-form").wait_for(state="visible", timeout=WAIT_MS)
    # Speaker roles are stored with the note; the live view may have drawn the turns first.
    page.reload()
    page.locator("#note-form").wait_for(state="visible", timeout=WAIT_MS)
    # Every turn of the sample visit is there.
    page.wait_for_function("() => document.querySelectorAll('li.turn').length === 11")
    assert page.locator("#partial").is_hidden()
    assert page.locator("li.turn .label.flag").count() > 0  # keyword flags as labels
    assert "Clinician (A)" in page.locator("li.turn").first.inner_text()
    page.get_by_label("Show original text").check()
    page.screenshot(path=str(shots / "encounter.png"), full_page=True)
    check_layout(page, shots, "encounter-360.png")
    page.get_by_label("Show original text").uncheck()

    # -- the note written again with another model (the notes service's scheduler does it)
    page.get_by_label("Write the note again with").select_option("gemini-2.5-flash")
    page.get_by_role("button", name="Regenerate…").click()
    page.get_by_role("button", name="Write it again").click()  # it asks first
    wait_text(page, "note-meta", "t.startsWith('v2 · written again')", timeout=WAIT_MS)
    note = page.request.get(f"{api}/v1/encounters/{encounter_id}/note").json()
    assert (note["version"], note["model"]) == (2, "gemini-2.5-flash")

    # -- admin: tokens for a clinician (made in the page), another clinician and an auditor
    page.get_by_role("link", name="Tokens").click()
    page.wait_for_url(re.compile(r"/admin/tokens$"))
    page.get_by_label("Name").fill("dr-demo-ui")
    page.get_by_label("Role").select_option("clinician")
    page.get_by_label("Clinician id (clinicians only)").fill("dr-demo")
    page.get_by_role("button", name="Create token").click()
    page.locator("#new-secret").wait_for(state="visible", timeout=WAIT_MS)
    secret = page.locator("#secret-value").inner_text()
    assert re.fullmatch(r"ms_[A-Za-z0-9_-]{43}", secret)
    page.get_by_role("button", name="Done").click()
    assert page.locator("#secret-value").inner_text() == ""
    page.locator('tr[data-token="dr-demo-ui"]').wait_for()
    csrf = page.evaluate("document.body.dataset.csrf")
    made = {}
    for name, role, clinician in (
        ("dr-other", "clinician", "dr-other"),
        ("audit-ui", "auditor", None),
    ):
        body = {"name": name, "role": role, **({"clinician_id": clinician} if clinician else {})}
        resp = page.request.post(f"{api}/v1/tokens", data=body, headers={"X-CSRF-Token": csrf})
        assert resp.status == 201, resp.text()
        made[name] = resp.json()["token"]
    refused = page.request.post(f"{api}/v1/tokens", data={"name": "x", "role": "staff"})
    assert refused.status == 403  # the same call without the CSRF token
    page.reload()
    page.locator('tr[data-token="audit-ui"]').wait_for()
    page.screenshot(path=str(shots / "tokens.png"))
    check_layout(page)
    sign_out(page)
    assert "medscribe_session" not in {c["name"] for c in admin.cookies()}
    page.goto(f"{api}/encounters")
    page.wait_for_url(re.compile(r"/signin$"))
    page.screenshot(path=str(shots / "signin.png"))
    check_layout(page)
    admin.close()

    # -- the clinician edits, meets a conflict, keeps their edit, signs
    clin = browser.new_context(viewport=WIDE, accept_downloads=True)
    page = clin.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in_with_form(page, api, secret)
    page.locator(f'li.enc[data-id="{encounter_id}"] a').wait_for()
    for _ in range(40):  # keyboard only: Tab to the encounter, Enter opens it
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('enc-link')"):
            break
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/encounters/{re.escape(encounter_id)}$"))
    page.locator("#note-form").wait_for(state="visible")
    plan = page.get_by_label("Plan")
    added = "\nRecheck potassium in two weeks.\nStart warfarin 5 mg daily."  # nobody said it
    plan.fill(plan.input_value() + added)
    page.get_by_role("button", name="Save", exact=True).click()
    wait_text(page, "note-meta", "t.startsWith('v3')")
    assert "edited by dr-demo-ui" in page.locator("#note-meta").inner_text()

    # Someone else saves v4 (the API with the same clinician's token) while we edit v3.
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {secret}"}) as client:
        theirs = client.get(f"/v1/encounters/{encounter_id}/note").json()
        sections = theirs["sections"]
        sections["plan"] = [*sections["plan"], "Bring a home blood pressure log."]
        put = client.put(
            f"/v1/encounters/{encounter_id}/note",
            json={"sections": sections},
            headers={"If-Match": theirs["etag"]},
        )
        assert put.status_code == 200
    assessment = page.get_by_label("Assessment")
    assessment.fill(assessment.input_value() + "\nBlood pressure controlled.")
    page.get_by_role("button", name="Save", exact=True).click()
    conflict = page.locator("#conflict")
    conflict.wait_for(state="visible")
    assert "v4" in conflict.inner_text()
    assert "Bring a home blood pressure log." in page.locator("#conflict-diff").inner_text()
    page.screenshot(path=str(shots / "conflict.png"), full_page=True)
    page.get_by_role("button", name="Keep my edit on top of theirs").click()
    page.get_by_role("button", name="Save", exact=True).click()
    wait_text(page, "note-meta", "t.startsWith('v5')")
    assert "Blood pressure controlled." in page.get_by_label("Assessment").input_value()

    # Note evidence, as the notes service computed it: statements linked to the turns they
    # rest on, and a high flag on the drug and dose the clinician typed that nobody said.
    note_url = f"{api}/v1/encounters/{encounter_id}/note"
    served = page.request.get(note_url).json()
    assert served["version"] == 5
    assert served["open_high_flags"] >= 1
    linked = next(st for st in served["statements"] if st["seqs"] and not st["flags"])
    typed = next(st for st in served["statements"] if "warfarin" in st["text"])
    assert {f["severity"] for f in typed["flags"]} == {"high"}
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('li.turn').length === 11")
    statement = page.locator(f'button.statement[data-statement="{linked["id"]}"]')
    statement.focus()
    page.keyboard.press("Enter")  # select by keyboard: its turns are highlighted
    assert statement.get_attribute("aria-pressed") == "true"
    highlighted = [t.get_attribute("data-seq") for t in page.locator("li.turn.hl").all()]
    assert highlighted == [str(seq) for seq in linked["seqs"]]
    flagged = page.locator(f'button.statement[data-statement="{typed["id"]}"]')
    assert "high · drug: warfarin" in flagged.inner_text()

    page.get_by_role("button", name="Save & sign…").click()
    dialog = page.locator("#sign-dialog")
    dialog.wait_for(state="visible")
    assert "version 5" in dialog.inner_text()
    assert "warfarin" in dialog.inner_text()
    confirm = dialog.get_by_role("button", name="Sign", exact=True)
    assert confirm.is_disabled()  # not before the explicit acknowledgement
    dialog.get_by_label("I have reviewed these statements and sign anyway").check()
    page.screenshot(path=str(shots / "sign.png"))
    with page.expect_request(f"{note_url}/save-and-sign") as sent:
        confirm.click()
    # One request: the text, the attestation and the flags that were shown and acknowledged.
    signed_body = sent.value.post_data_json
    assert signed_body["attest"] is True
    assert {"statement": typed["text"], "term": "warfarin"} in [
        {**a, "term": a["term"].lower()} for a in signed_body["acknowledged"]
    ]
    assert typed["text"] in signed_body["sections"][typed["section"]]
    assert sent.value.headers["if-match"] == '"v5"'
    page.wait_for_function(
        "() => document.getElementById('status-badge').dataset.status === 'signed'"
    )
    wait_text(page, "locked", "t.includes('Signed by dr-demo-ui')")

    # History and diff: v3 against v2 shows the added plan line.
    page.locator("#versions button").nth(2).click()
    diff = page.locator("#diff").inner_text()
    assert "Recheck potassium in two weeks." in diff
    assert page.locator("#diff .diff-line.add").count() >= 1
    page.locator("#versions").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "history.png"), full_page=True)

    # Downloads: transcript, note and (now that it is signed) FHIR.
    with page.expect_download() as got:
        page.get_by_role("button", name="Transcript (.txt)").click()
    assert "Good morning" in Path(got.value.path()).read_text()
    with page.expect_download() as got:
        page.get_by_role("button", name="Note (.txt)").click()
    assert "Recheck potassium" in Path(got.value.path()).read_text()
    with page.expect_download() as got:
        page.get_by_role("button", name="FHIR (.json)").click()
    fhir = json.loads(Path(got.value.path()).read_text())
    assert fhir["resourceType"] == "DocumentReference"

    # Search by a word of the note: the list finds it, and the word is in no URL.
    page.get_by_role("link", name="Visits").click()
    page.get_by_label("Search: patient, MRN, visit id or note words").fill("potassium")
    page.get_by_role("button", name="Apply").click()
    wait_text(page, "list-state", "t.includes('1 visit')")
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert {c["name"] for c in clin.cookies()} == {"medscribe_session"}
    sign_out(page)
    clin.close()

    # -- another clinician sees neither the encounter nor its page
    other = browser.new_context(viewport=WIDE)
    page = other.new_page()
    sign_in_with_form(page, api, made["dr-other"])
    wait_text(page, "list-state", "t !== 'Loading…'")
    assert page.locator("li.enc").count() == 0
    resp = page.goto(f"{api}/encounters/{encounter_id}")
    assert resp is not None
    assert resp.status == 404  # like an unknown id: no existence leak
    assert "No such encounter." in page.content()
    api_resp = page.request.get(f"{api}/v1/encounters/{encounter_id}/note")
    assert api_resp.status == 404
    other.close()

    # -- the auditor finds the edits and the signature in the audit log
    audit = browser.new_context(viewport=WIDE)
    page = audit.new_page()
    page.goto(f"{api}/signin")
    page.get_by_text("Sign in with a sign-in key instead").click()
    page.get_by_label("Sign-in key (API token)").fill(made["audit-ui"])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/audit$"))
    page.get_by_label("Encounter id").fill(encounter_id)
    page.get_by_role("button", name="Apply").click()
    page.locator('tr[data-action="note.sign"]').wait_for()
    rows = page.locator("#audit-rows tr").all_inner_texts()
    by_clinician = [r for r in rows if "dr-demo-ui" in r]
    assert any("note.sign" in r for r in by_clinician)
    assert sum("note.update" in r for r in by_clinician) >= 2
    assert any("note.update" in r and "412" in r for r in by_clinician)  # the conflict
    page.screenshot(path=str(shots / "audit.png"))
    check_layout(page)
    page.get_by_label("Encounter id").fill("")
    page.get_by_label("Action").fill("console.signin")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_function(
        "() => document.querySelectorAll("
        "'#audit-rows tr[data-action=\"console.signin\"]').length >= 4"
    )
    sign_out(page)
    audit.close()

    # Nothing of the patient's record went into any URL the browser asked for.
    for word in ("potassium", "Alvarez", "lisinopril", "losartan", "cough"):
        assert not [u for u in requests if word.lower() in u.lower()], word
    assert errors == []
