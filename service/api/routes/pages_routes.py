"""The review page (``GET /``) and the API docs (``/docs``, ``/redoc``), with every asset served
by the app itself: nothing is loaded from another host, so all of it works with no network.

The page is a server-rendered Jinja2 template with a little plain JavaScript
(``service/api/static``) that signs in with an API token (kept in the tab's sessionStorage) and
calls the JSON API. Swagger UI and ReDoc come from the ``fastapi-offline`` package's bundled
copies."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent.parent
STATIC = HERE / "static"
DOCS_STATIC = Path(fastapi_offline.__file__).resolve().parent / "static"
templates = Jinja2Templates(directory=HERE / "templates")
# nothing on these pages is loaded from another host: ReDoc's decorative logo, the one thing it
# would fetch, is refused by the browser before any request goes out (and is then left out)
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
               "'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; font-src 'self' "
               "data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _docs_page(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return response

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def review_page(request: Request) -> HTMLResponse:
    """The coder's workspace: sign in, projects, documents, the review queue, agreement."""
    return templates.TemplateResponse(request, "review.html", {
        "title": request.app.title, "version": request.app.version},
        headers={"Cache-Control": "no-store", "Content-Security-Policy": PAGE_POLICY})


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return _docs_page(get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - Swagger UI",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}/static/docs/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static/docs/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/favicon.svg"))


@router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
def swagger_ui_redirect() -> HTMLResponse:
    return _docs_page(get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return _docs_page(get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}/static/docs/redoc.standalone.js",
        redoc_favicon_url=f"{root}/static/favicon.svg", with_google_fonts=False))


def install(app: FastAPI) -> None:
    """Add the page, the docs and their static files to ``app`` (made with ``docs_url=None,
    redoc_url=None``, so that these pages replace FastAPI's, which load from a CDN)."""
    app.include_router(router)
    app.mount("/static/docs", StaticFiles(directory=DOCS_STATIC), name="docs-static")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
