"""``precode users``: create users and print tokens that the service accepts."""

from __future__ import annotations

import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.api.app import create_app
from tests.service.conftest import make_settings


def cli_app() -> typer.Typer:
    from service.cli import app

    return app


def test_users_create_prints_a_working_token(db_url, tmp_path, tiny_suggester, monkeypatch):
    monkeypatch.setenv("PRECODE_HOME", str(tmp_path))
    monkeypatch.setenv("PRECODE_DATABASE_URL", db_url)
    app, runner = cli_app(), CliRunner()
    created = runner.invoke(app, ["users", "create", "ann", "--admin"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("pc_")
    again = runner.invoke(app, ["users", "create", "ann"])
    assert again.exit_code == 2 and "exists already" in again.output
    second = runner.invoke(app, ["users", "token", "ann", "--label", "ci"]).stdout.strip()
    assert second.startswith("pc_") and second != token
    assert runner.invoke(app, ["users", "token", "nobody"]).exit_code == 2
    assert "ann  admin" in runner.invoke(app, ["users", "list"]).stdout
    service = create_app(make_settings(tmp_path / "home", db_url), suggester=tiny_suggester)
    with TestClient(service) as client:
        for t in (token, second):
            me = client.get("/v1/users/me", headers={"Authorization": f"Bearer {t}"}).json()
            assert (me["name"], me["is_admin"]) == ("ann", True)

        def status(t: str) -> int:
            return client.get("/v1/users/me", headers={"Authorization": f"Bearer {t}"}).status_code

        listed = runner.invoke(app, ["users", "tokens", "ann"]).stdout.splitlines()
        assert len(listed) == 2 and "ci" in listed[1] and "valid" in listed[1]
        ci_id = listed[1].split()[0]
        assert runner.invoke(app, ["users", "revoke", "ann"]).exit_code == 2  # which one?
        assert runner.invoke(app, ["users", "revoke", "ann", "--token", "999"]).exit_code == 2
        assert runner.invoke(app, ["users", "revoke", "ann", "--token", ci_id]).exit_code == 0
        assert (status(token), status(second)) == (200, 401)
        assert "revoked" in runner.invoke(app, ["users", "tokens", "ann"]).stdout.splitlines()[1]
        everything = runner.invoke(app, ["users", "revoke", "ann", "--all"])
        assert everything.exit_code == 0 and "revoked 1 token" in everything.output
        assert status(token) == 401
