"""The web console in a test: signing in through its forms, and checking a page's layout."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import httpx

NONCE_RE = re.compile(r'name="form_nonce" value="([^"]+)"')


async def sign_in(http: httpx.AsyncClient, secret: str) -> httpx.Response:
    """GET the sign-in form, POST the token with its nonce; returns the POST's response."""
    form = await http.get("/signin")
    assert form.status_code == 200
    match = NONCE_RE.search(form.text)
    assert match is not None
    return await http.post("/signin", data={"token": secret, "form_nonce": match.group(1)})


def csrf_of(page_html: str) -> str:
    match = re.search(r'data-csrf="([0-9a-f]{64})"', page_html)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)


CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 360, "height": 780}


def find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.access(path, os.X_OK):
            return path
    return None


UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button'))
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                 && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map((e) => e.id || e.name || e.outerHTML.slice(0, 80))"""


def check_layout(page: Any, shots: Path | None = None, name: str | None = None) -> None:
    """At 360 px nothing sticks out sideways, and every control has a label."""
    page.set_viewport_size(NARROW)
    page.wait_for_timeout(100)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} is {overflow}px wider than 360 px"
    assert page.evaluate(UNLABELLED) == [], page.url
    if shots is not None and name:
        page.screenshot(path=str(shots / name), full_page=True)
    page.set_viewport_size(WIDE)


def wait_text(page: Any, element_id: str, test: str, timeout: float | None = None) -> None:
    """Wait until the element's text passes ``test`` (JavaScript over ``t``, its text). An
    element not on the page yet (the browser is still navigating) is a "not yet", not an
    error: Playwright ends a wait at the first exception its function throws."""
    script = (
        f"() => {{ const e = document.getElementById({element_id!r}); "
        f"if (e === null) return false; const t = e.textContent; return {test}; }}"
    )
    if timeout is None:
        page.wait_for_function(script)
    else:
        page.wait_for_function(script, timeout=timeout)
