"""The project page cautions when the project's model has confidences that do not hold on real
speech: a model learnt from precode's authored seed corpus and never calibrated on a
researcher's codings (the built-in model). A project on a model learnt from a researcher's own
codings shows no caution (``test_review_page``)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from service.api.app import create_app
from tests.browser.conftest import LiveServer, _user
from tests.browser.interview import interview_text
from tests.browser.test_review_page import sign_in
from tests.service.conftest import make_settings


@pytest.fixture(scope="module")
def seed_server(tmp_path_factory, seed_sourced_model):
    from models.suggester import Suggester

    home = tmp_path_factory.mktemp("home")
    settings = make_settings(home, f"sqlite:///{home / 'precode.db'}")
    with LiveServer(create_app(settings, suggester=Suggester.load(seed_sourced_model))) as live:
        yield live


def test_a_project_on_the_built_in_model_cautions_before_bulk_accepting(page: Page, seed_server):
    ana = _user(seed_server, "ana", admin=True)
    project_id = ana.ok("post", "/v1/projects", json={"name": "Ward interviews"})["id"]
    ana.ok("post", f"/v1/projects/{project_id}/documents",
           files={"file": ("ward.txt", interview_text().encode(), "text/plain")})
    [version] = ana.ok("get", f"/v1/projects/{project_id}/models")
    assert "no better than chance" in version["caution"]
    assert "precode seed corpus (v1)" in version["measured_on"]

    sign_in(page, seed_server.url, ana.token)
    page.get_by_role("link", name="Ward interviews").click()
    caution = page.get_by_role("note").filter(has_text="On real interview speech")
    expect(caution).to_be_visible()
    expect(caution).to_contain_text("no better than chance")
    expect(page.locator("#bulk-caution")).to_be_visible()
    ana.http.close()
