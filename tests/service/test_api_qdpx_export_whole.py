"""A project uploaded as a .qdpx is exported whole: everything the file had, with the codings
made in precode added under their own users."""

from __future__ import annotations

import zipfile
from xml.etree import ElementTree as ET

from corpus.refi import coder_name, read_qdpx
from service.services.users import MODEL_USER
from tests.service.conftest import new_project, precode
from tests.service.test_api_qdpx_import import ward_project


def _elements(path) -> dict[str, tuple[str, dict]]:
    with zipfile.ZipFile(path) as zf:
        root = ET.fromstring(zf.read("project.qde"))
    return {el.get("guid"): (el.tag, dict(el.attrib)) for el in root.iter() if el.get("guid")}


def _codings(path) -> set[tuple]:
    project = read_qdpx(path)
    return {(c.start, c.end, project.codebook[c.code_id].label, coder_name(project, c.user_guid))
            for c in project.codings}


def test_uploaded_project_comes_back_whole_with_the_models_codings(owner, tmp_path):
    original = tmp_path / "ward.qdpx"
    original.write_bytes(ward_project(tmp_path, family=False))
    pid = new_project(owner, codebook="npt,integrating")
    assert owner.upload(pid, "ward.qdpx", original.read_bytes()).status_code == 201
    job = precode(owner, pid)
    res = owner.get(f"/v1/projects/{pid}/export.qdpx")
    assert res.status_code == 200
    exported = tmp_path / "exported.qdpx"
    exported.write_bytes(res.content)

    kept = _elements(exported)
    for guid, element in _elements(original).items():  # users, codes, source, selections, codings
        assert kept.get(guid) == element, guid
    before, after = _codings(original), _codings(exported)
    assert before <= after  # Ruth's and Sam's codings exactly where they were
    added = after - before
    assert {c[3] for c in added} <= {MODEL_USER}
    assert bool(added) == (job["result"]["suggestions"] > 0)
