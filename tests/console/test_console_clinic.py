"""A clinician's and a front desk's day in Chromium, against the real staff API server
(issue 26): the worklist, a session that ends mid-edit without losing the text, Save &
sign with what the transcript said about each high flag, the locked note and its addendum,
the downloads' DRAFT/signed headers, copy for the EHR, speaker corrections, a Regenerate
that asks first, and the front desk's "Today"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from services.notes.db import repo
from services.notes.db.engine import Database
from services.notes.db.models import ConsoleSession, Encounter, utcnow
from shared.contracts import EncounterStarted
from tests.api.seeding import add_encounter, add_token
from tests.console.test_console_live import ApiThread, api, sign_in  # noqa: F401
from tests.kit.console import WIDE, check_layout

pytestmark = pytest.mark.browser
# Generous: a save computes the note's evidence (the first one in a process loads the
# language model), and the machine may be busy. It bounds a hang only.
WAIT_MS = 120_000

PATIENT = {"patient_name": "Asha Patel", "patient_mrn": "MRN-4471", "visit_reason": "Cough"}


async def _with_patient(db: Database, encounter_id: str) -> None:
    async with db.session() as s:
        await s.execute(update(Encounter).where(Encounter.id == encounter_id).values(**PATIENT))


async def _end_sessions(db: Database) -> None:
    async with db.session() as s:
        await s.execute(update(ConsoleSession).values(expires_at=utcnow()))


def _wait_text(page: Any, selector: str, text: str) -> None:
    page.wait_for_function(
        "([sel, text]) => (document.querySelector(sel)?.textContent || '').includes(text)",
        arg=[selector, text],
        timeout=WAIT_MS,
    )


def _download(page: Any, button: str) -> str:
    with page.expect_download() as got:
        page.get_by_role("button", name=button).click()
    return Path(got.value.path()).read_text(encoding="utf-8")


def test_clinician_worklist_expiry_save_and_sign_addendum(
    api: ApiThread,  # noqa: F811
    browser: Any,
    shots: Path,
) -> None:
    assert api.db is not None
    db = api.db
    now = datetime.now(UTC)
    enc = api.run(add_encounter(db, clinician="dr-a", status="needs_review", started_at=now))
    eid = enc.encounter_id
    api.run(_with_patient(db, eid))
    api.run(add_encounter(db, clinician="dr-a", status="signed", note="signed"))  # done already
    api.run(add_encounter(db, clinician="dr-b", status="ready"))  # someone else's
    secret = api.run(add_token(db, "dr-lee", "clinician", "dr-a"))
    base = f"http://127.0.0.1:{api.port}"
    ctx = browser.new_context(
        viewport=WIDE, accept_downloads=True, permissions=["clipboard-read", "clipboard-write"]
    )
    ctx.set_default_timeout(WAIT_MS)
    page = ctx.new_page()
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # -- the clinician lands on their notes to sign
    sign_in(page, base, secret)
    _wait_text(page, "#worklist-h", "My notes to sign (1)")
    page.locator(f'li.enc[data-id="{eid}"]').wait_for(timeout=WAIT_MS)
    assert page.locator("li.enc").count() == 1
    item = page.locator(f'li.enc[data-id="{eid}"]').inner_text()
    assert "Asha Patel" in item
    assert "Needs review" in item
    page.screenshot(path=str(shots / "worklist.png"))
    page.locator(f'li.enc[data-id="{eid}"] a').click()
    page.wait_for_url(re.compile(rf"/encounters/{re.escape(eid)}$"))
    page.locator("#note-form").wait_for(state="visible", timeout=WAIT_MS)
    page.wait_for_function("() => document.querySelectorAll('li.turn').length === 4")
    assert page.locator("#regen-form").is_visible()  # offered where it works

    # -- typing is kept on the server as a draft; leaving asks first
    page.get_by_label("Plan").click()
    page.keyboard.press("End")
    page.keyboard.type("\nStart warfarin 5 mg daily.")
    _wait_text(page, "#draft-state", "Draft kept")
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("link", name="Visits").click()
    page.wait_for_timeout(300)  # a navigation that the prompt cancelled leaves nothing to await
    assert dialogs == ["beforeunload"]
    assert page.url.endswith(f"/encounters/{eid}")

    # -- the session ends; Save sends to sign-in, and signing in brings the text back
    api.run(_end_sessions(db))
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/signin\?expired=1&next="), timeout=WAIT_MS)
    assert "unsaved changes were kept" in page.locator(".alert").inner_text()
    page.get_by_text("Sign in with a sign-in key instead").click()
    page.get_by_label("Sign-in key (API token)").fill(secret)
    page.get_by_role("button", name="Sign in with the key").click()
    page.wait_for_url(re.compile(rf"/encounters/{re.escape(eid)}$"), timeout=WAIT_MS)
    page.locator("#draft-restored").wait_for(state="visible", timeout=WAIT_MS)
    assert "Start warfarin 5 mg daily." in page.get_by_label("Plan").input_value()

    # -- saved, the download says DRAFT — NOT SIGNED above whose visit it is
    page.get_by_role("button", name="Save", exact=True).click()
    _wait_text(page, "#note-meta", "v2")
    draft = _download(page, "Note (.txt)")
    assert draft.splitlines()[0] == "DRAFT — NOT SIGNED"
    assert "Asha Patel" in draft
    assert "MRN-4471" in draft
    assert "Clinician: dr-a" in draft

    # -- Save & sign: what is attested, and what the transcript said about the typed drug
    page.get_by_role("button", name="Save & sign…").click()
    dialog = page.locator("#sign-dialog")
    dialog.wait_for(state="visible")
    text = dialog.inner_text()
    assert "version 2" in text
    assert "Asha Patel" in text
    assert "attest" in text
    assert "warfarin" in text
    assert "The transcript said:" in text
    assert dialog.get_by_role("button", name="Sign", exact=True).is_disabled()
    page.screenshot(path=str(shots / "sign-summary.png"))
    typed = dialog.locator("li.sign-flag", has_text="warfarin")
    typed.get_by_role("button", name="Remove this statement").first.click()  # one-click fix
    dialog.wait_for(state="hidden")
    assert "warfarin" not in page.get_by_label("Plan").input_value()
    # New text the server has not checked yet goes with the signature, in one request.
    page.get_by_label("Plan").click()
    page.keyboard.press("End")
    page.keyboard.type("\nStart lisinopril 10 mg daily.")
    page.get_by_role("button", name="Save & sign…").click()
    dialog.wait_for(state="visible")
    _wait_text(page, "#sign-version", "saved as version 3")
    flags = dialog.locator("#sign-flag-list").inner_text()
    assert "warfarin" not in flags
    assert "albuterol" in flags  # the scribe's own unsupported drug: reviewed, then signed
    dialog.get_by_label("I have reviewed these statements and sign anyway").check()
    dialog.get_by_role("button", name="Sign", exact=True).click()
    # The server found the typed drug unsupported: nothing saved, the dialog lists it.
    _wait_text(page, "#sign-refused", "Not signed yet")
    dialog.wait_for(state="visible")
    flags = dialog.locator("#sign-flag-list").inner_text()
    assert "lisinopril" in flags
    assert "albuterol" not in flags  # acknowledged already
    assert page.locator("#status-badge").get_attribute("data-status") != "signed"
    dialog.get_by_label("I have reviewed these statements and sign anyway").check()
    dialog.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_function(
        "() => document.getElementById('status-badge').dataset.status === 'signed'",
        timeout=WAIT_MS,
    )

    # -- locked: read-only, no Save or Regenerate; an addendum instead
    page.locator("#addendum-form").wait_for(state="visible", timeout=WAIT_MS)
    assert "Signed by dr-lee" in page.locator("#locked").inner_text()
    assert page.get_by_label("Plan").evaluate("(el) => el.readOnly")
    assert page.locator("#save").is_hidden()
    assert page.locator("#regen-form").is_hidden()
    page.get_by_label("Addendum").fill("Patient called: cough resolved.")
    page.get_by_role("button", name="Add addendum").click()
    _wait_text(page, "#status-badge", "Signed · addendum")
    _wait_text(page, "#addenda", "Patient called: cough resolved.")
    page.screenshot(path=str(shots / "addendum.png"), full_page=True)
    signed = _download(page, "Note (.txt)")
    assert signed.startswith("Signed by dr-lee at ")
    assert "DRAFT" not in signed
    assert "Asha Patel" in signed
    assert "by dr-lee:\nPatient called: cough resolved." in signed
    assert "Start lisinopril 10 mg daily." in signed  # saved with the signature

    # -- copy for the EHR: clean text
    page.get_by_role("button", name="Copy whole note").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("Subjective:\n")
    assert "cough resolved" in copied
    assert "- " not in copied  # no list markers to clean up in the EHR
    page.get_by_role("button", name="Copy Plan").click()
    plan = page.evaluate("navigator.clipboard.readText()")
    assert plan == page.get_by_label("Plan").input_value().strip()
    check_layout(page)

    # -- the patient's after-visit summary: from the signed note, checked, printable
    page.get_by_role("link", name="After-visit summary").click()
    page.wait_for_url(re.compile(rf"/encounters/{re.escape(eid)}/summary$"))
    _wait_text(page, "#summary-who", "Asha Patel")
    page.get_by_role("button", name="Write the summary").click()
    _wait_text(page, "#summary-body", "What to do next")
    assert "lisinopril" in page.locator("#summary-body").inner_text()  # from the signed text
    assert page.locator("#summary-check").is_hidden()  # nothing the note does not say
    printed = _download(page, "Download (.txt)")
    assert printed.startswith("After-visit summary\nPatient: Asha Patel")
    assert "CHECK FAILED" not in printed
    check_layout(page)

    # -- back on the worklist: nothing left to sign
    page.get_by_role("link", name="Visits").click()
    _wait_text(page, "#worklist-h", "My notes to sign (0)")
    _wait_text(page, "#list-state", "Nothing to sign")
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    for word in ("patel", "warfarin", "cough", "mrn-4471"):
        assert not [u for u in urls if word in u.lower()], word
    assert errors == []
    ctx.close()


def test_speakers_and_a_regenerate_that_asks_first(
    api: ApiThread,  # noqa: F811
    browser: Any,
) -> None:
    assert api.db is not None
    db = api.db
    enc = api.run(add_encounter(db, clinician="dr-a", status="ready"))
    eid = enc.encounter_id
    secret = api.run(add_token(db, "dr-lee", "clinician", "dr-a"))
    base = f"http://127.0.0.1:{api.port}"
    ctx = browser.new_context(viewport=WIDE)
    ctx.set_default_timeout(WAIT_MS)
    page = ctx.new_page()
    sign_in(page, base, secret)
    page.goto(f"{base}/encounters/{eid}")
    page.wait_for_function("() => document.querySelectorAll('li.turn').length === 4")
    assert page.locator("#status-badge").inner_text() == "Awaiting signature"
    assert page.locator("li.turn").first.locator(".speaker").inner_text() == "Clinician (A)"

    page.get_by_role("button", name="Swap clinician and patient").click()
    page.wait_for_function(
        "() => document.querySelector('li.turn .speaker').textContent === 'Patient (A)'",
        timeout=WAIT_MS,
    )
    page.get_by_label("Who said turn 2").select_option("other")
    page.wait_for_function(
        "() => document.querySelectorAll('li.turn .speaker')[1].textContent === 'Other (B)'",
        timeout=WAIT_MS,
    )
    assert page.get_by_label("Who said turn 2").input_value() == "other"

    # Regenerate asks first; Cancel changes nothing.
    page.get_by_label("Write the note again with").select_option(label="Gemini 2.5 Flash")
    page.get_by_role("button", name="Regenerate…").click()
    ask = page.locator("#regen-dialog")
    ask.wait_for(state="visible")
    assert "Gemini 2.5 Flash" in ask.inner_text()
    assert "version history" in ask.inner_text()
    ask.get_by_role("button", name="Cancel").click()
    ask.wait_for(state="hidden")
    assert page.request.get(f"{base}/v1/encounters/{eid}").json()["status"] == "ready"
    page.get_by_role("button", name="Regenerate…").click()
    ask.get_by_role("button", name="Write it again").click()
    _wait_text(page, "#status-badge", "Writing note")
    assert page.locator("#regen-form").is_hidden()
    ctx.close()


def test_front_desk_lands_on_today(api: ApiThread, browser: Any) -> None:  # noqa: F811
    assert api.db is not None
    db = api.db
    today = api.run(add_encounter(db, clinician="dr-a", started_at=datetime.now(UTC)))
    api.run(add_encounter(db, clinician="dr-a", started_at=datetime.now(UTC) - timedelta(days=3)))
    secret = api.run(add_token(db, "desk", "staff"))
    base = f"http://127.0.0.1:{api.port}"
    ctx = browser.new_context(viewport=WIDE)
    ctx.set_default_timeout(WAIT_MS)
    page = ctx.new_page()
    sign_in(page, base, secret)
    assert page.locator("#worklist-h").inner_text() == "Today"
    page.locator(f'li.enc[data-id="{today.encounter_id}"]').wait_for(timeout=WAIT_MS)
    _wait_text(page, "#list-state", "1 visit(s)")
    assert page.get_by_role("button", name="My notes to sign").count() == 0
    page.get_by_role("button", name="All visits").click()
    _wait_text(page, "#list-state", "2 visit(s)")
    assert page.locator("#worklist-h").inner_text() == "All visits"
    ctx.close()


async def _room_starts(db: Database, eid: str, room: str) -> None:
    """What the notes consumer does with the room's EncounterStarted (no clinician given)."""
    msg = EncounterStarted(
        encounter_id=eid, room=room, llm_model="claude-haiku-4-5-20251001",
        clinician=None, started_at=datetime.now(UTC),
    )  # fmt: skip
    async with db.session() as s:
        await repo.upsert_encounter_started(s, msg)


def test_front_desk_assigns_the_room_and_the_visit_arrives_with_the_patient(
    api: ApiThread,  # noqa: F811
    browser: Any,
    shots: Path,
) -> None:
    assert api.db is not None
    db = api.db
    secret = api.run(add_token(db, "desk", "staff"))
    base = f"http://127.0.0.1:{api.port}"
    ctx = browser.new_context(viewport=WIDE)
    ctx.set_default_timeout(WAIT_MS)
    page = ctx.new_page()
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    sign_in(page, base, secret)
    desk = page.locator("#assign-form")
    desk.get_by_label("Room").fill("exam-7")
    desk.get_by_label("Patient name").fill("Ravi Kumar")
    desk.get_by_label("MRN").fill("MRN-9902")
    desk.get_by_label("Date of birth").fill("1970-05-17")
    desk.get_by_label("Reason for visit").fill("Knee pain")
    desk.get_by_label("Clinician").fill("dr-a")
    desk.get_by_role("button", name="Assign to room").click()
    _wait_text(page, "#room-queue", "Ravi Kumar · MRN MRN-9902")
    assert "with dr-a" in page.locator("#room-queue").inner_text()
    page.screenshot(path=str(shots / "front-desk.png"))
    check_layout(page)

    # The room's capture agent starts recording: the visit carries the patient.
    eid = f"exam-7-{datetime.now(UTC):%Y%m%d-%H%M%S}-0000abcd"
    api.run(_room_starts(db, eid, "exam-7"))
    item = page.locator(f'li.enc[data-id="{eid}"]')
    item.wait_for(timeout=WAIT_MS)  # the list refreshes itself
    text = item.inner_text()
    assert "Ravi Kumar" in text
    assert "Knee pain" in text
    assert "dr-a" in text
    for word in ("ravi", "kumar", "9902", "knee"):
        assert not [u for u in urls if word in u.lower()], word
    ctx.close()


def test_a_clinician_claims_an_unassigned_visit(api: ApiThread, browser: Any) -> None:  # noqa: F811
    assert api.db is not None
    db = api.db
    orphan = api.run(
        add_encounter(db, clinician=None, status="ready", started_at=datetime.now(UTC))
    )
    secret = api.run(add_token(db, "dr-lee", "clinician", "dr-a"))
    base = f"http://127.0.0.1:{api.port}"
    ctx = browser.new_context(viewport=WIDE)
    ctx.set_default_timeout(WAIT_MS)
    page = ctx.new_page()
    sign_in(page, base, secret)
    _wait_text(page, "#worklist-h", "My notes to sign (0)")
    page.get_by_role("button", name="Unassigned").click()
    page.get_by_role("button", name=f"Claim visit {orphan.encounter_id}").click()
    _wait_text(page, "#worklist-h", "Unassigned visits")
    _wait_text(page, "#list-state", "No visit is waiting for a clinician.")
    page.get_by_role("button", name="My notes to sign").click()
    _wait_text(page, "#worklist-h", "My notes to sign (1)")
    page.locator(f'li.enc[data-id="{orphan.encounter_id}"]').wait_for(timeout=WAIT_MS)
    ctx.close()
