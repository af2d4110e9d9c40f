"""The interactive API docs (/docs, /redoc), only when ``api_docs`` is enabled.

Their pages load Swagger UI / ReDoc from cdn.jsdelivr.net and run it on the console's
origin, which is why they are off by default (a clinic enables them on a test server).
When on, they carry a CSP that allows scripts from that CDN for these two pages only, talks
to this origin only, and forbids framing; no referrer, no caching.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

CDN = "https://cdn.jsdelivr.net"
DOCS_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; script-src {CDN} 'unsafe-inline'; style-src {CDN} "
        "'unsafe-inline' https://fonts.googleapis.com; font-src https://fonts.gstatic.com; "
        "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
        "worker-src blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@router.get("/docs")
async def swagger(request: Request) -> HTMLResponse:
    page = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title} - docs")
    page.headers.update(DOCS_HEADERS)
    return page


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    page = get_redoc_html(openapi_url="/openapi.json", title=f"{request.app.title} - ReDoc")
    page.headers.update(DOCS_HEADERS)
    return page
