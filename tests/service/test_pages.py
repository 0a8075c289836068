"""The review page and the API docs are served by the app with every asset they load: nothing
comes from another host, so they work with no network. (They are driven in a real browser in
tests/browser/.)"""

from __future__ import annotations

import re

import pytest

PAGES = ["/", "/docs", "/redoc"]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_loads_only_what_the_app_serves(app, path):
    client = app.state.client
    res = client.get(path)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    html = res.text
    assert not re.search(r"(?:https?:)?//[\w.-]+\.\w", html), "a page names another host"
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)""", html)
    assert assets, "no asset found on the page"
    for asset in assets:
        got = client.get(asset)
        assert got.status_code == 200 and got.content, asset
    # and the browser is told to load nothing from elsewhere
    policy = res.headers["content-security-policy"]
    assert "default-src 'self'" in policy


def test_the_page_script_loads_its_modules_from_the_app(app):
    client = app.state.client
    script = client.get("/static/review.js").text
    for module in re.findall(r"""import .* from ["'](\./[\w.]+)["']""", script):
        assert client.get("/static/" + module[2:]).status_code == 200, module
    assert client.get("/static/api.js").headers["content-type"].startswith("text/javascript")


def test_the_docs_name_the_local_copies_of_swagger_ui_and_redoc(app):
    client = app.state.client
    assert "/static/docs/swagger-ui-bundle.js" in client.get("/docs").text
    assert "/static/docs/redoc.standalone.js" in client.get("/redoc").text
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert client.get("/static/docs/swagger-ui-bundle.js").content.startswith(b"/*!")


def test_the_pages_stay_out_of_the_api_schema(app):
    paths = app.state.client.get("/openapi.json").json()["paths"]
    assert not {"/", "/docs", "/redoc"} & set(paths)
