"""A real NVivo export uploaded to the service: every coding lands on a segment that holds the
text NVivo shows for it, under its coder (positions counted in UTF-16 units, emoji and CR LF
included), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from corpus.codebook import to_qdc
from corpus.refi import read_qdpx
from tests.service.conftest import make_settings, new_project

pytestmark = pytest.mark.reference_data


@pytest.fixture(scope="module")
def settings(tmp_path_factory, db_url):
    # the export is 2.3 MB (NVivo puts a .docx beside each text)
    return make_settings(tmp_path_factory.mktemp("home"), db_url, max_upload_bytes=8_000_000)


def _imported(api, pid: int) -> list[dict]:
    rows, offset = [], 0
    while True:
        res = api.get(f"/v1/projects/{pid}/suggestions",
                      params={"origin": "imported", "order": "position", "limit": 500,
                              "offset": offset})
        assert res.status_code == 200, res.text
        items = res.json()["items"]
        rows += items
        if len(items) < 500:
            return rows
        offset += 500


def _overlaps(coded: str, segment: str) -> bool:
    coded, segment = coded.strip(), segment.strip()
    if coded in segment or segment in coded:
        return True
    # a coding across turns: a good stretch of it lies in the segment
    return any(coded[i:i + 30] in segment for i in range(0, max(1, len(coded) - 30), 10))


def test_every_nvivo_coding_lands_on_its_text(owner, reference_data):
    folder = reference_data / "refi_exports" / "nvivo_win_12.6"
    path = folder / "oltas.qdpx"
    truth = [json.loads(line) for line in
             (folder / "derived_nvivo_win_12.6_oltas.jsonl").read_text(encoding="utf-8")
             .splitlines()]
    project = read_qdpx(path)
    pid = new_project(owner)
    res = owner.put(f"/v1/projects/{pid}/codebook",
                    files={"file": ("oltas.qdc", to_qdc(project.codebook), "application/xml")})
    assert res.status_code == 200, res.text
    res = owner.upload(pid, "oltas.qdpx", path.read_bytes())
    assert res.status_code == 201, res.text
    rows = _imported(owner, pid)
    assert len(rows) >= len(truth)
    by_user: dict[str, list[str]] = {}
    for row in rows:
        [review] = owner.get(f"/v1/projects/{pid}/suggestions/{row['id']}").json()["reviews"]
        by_user.setdefault(review["coder"], []).append(
            row["segment"]["text"].replace("\r\n", "\n"))
    # every imported coding is on a segment holding its coder's coded text
    for user, segments in by_user.items():
        theirs = [t["text_lf_normalized"] for t in truth if t["user"] == user]
        assert theirs, user
        for segment in segments:
            assert any(_overlaps(coded, segment) for coded in theirs), (user, segment[:80])
    # and no coding of the file is lost
    for t in truth:
        assert any(_overlaps(t["text_lf_normalized"], s) for s in by_user.get(t["user"], [])), \
            (t["user"], t["text_lf_normalized"][:80])
