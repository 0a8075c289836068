"""`precode code --engine ray` on a local Ray cluster of 2 CPUs: the same output as one process,
an actor killed mid-batch, a rerun that resumes. One cluster serves the whole module; the tests
that use it are marked slow (the cluster takes seconds to start, each run's actors load the
model)."""

import csv
import json
import logging
import random
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.batch import SUGGEST_CHUNK
from service.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    import os

    import ray

    os.environ.setdefault("RAY_worker_niceness", "0")  # as `precode code --engine ray` does
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(tmp_path_factory.mktemp("ray")),
             logging_level=logging.WARNING, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Two interviews, a file that cannot be read, and a survey-comment table longer than one
    model call (so it is cut into chunks that different actors may code)."""
    from corpus.seed_corpus import load_seed

    folder = tmp_path_factory.mktemp("inputs")
    for f in EXAMPLES.iterdir():
        shutil.copy(f, folder)
    (folder / "broken.docx").write_bytes(b"not a docx")
    rng = random.Random(0)
    texts = [e.text.split(". ")[0][:100] for e in load_seed()]
    with (folder / "survey_comments.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "document", "text"])
        for n in range(SUGGEST_CHUNK + 8):
            w.writerow([f"c{n}", f"wave{n % 3 + 1}", rng.choice(texts)])
    return folder


def jsonl_and_qdpx(records, out, model, *, sources):
    """The project's own writers, both from one run: OUT.jsonl and OUT.qdpx."""
    from service.batch import write_jsonl
    from service.writers import write_qdpx_records

    write_jsonl(records, out.with_suffix(".jsonl"))
    write_qdpx_records(records, out.with_suffix(".qdpx"), model, sources=sources)


@pytest.fixture(scope="module")
def one_process(inputs, tiny_model, tmp_path_factory):
    """What one process writes, and the reason it gives for the unreadable file."""
    from models.suggester import Suggester
    from service.batch import PrecodeOptions, run_batch

    out = tmp_path_factory.mktemp("local") / "out.jsonl"
    reasons = []
    summary = run_batch([inputs], out, Suggester.load(tiny_model), PrecodeOptions(),
                        writer=jsonl_and_qdpx, on_error=lambda path, why: reasons.append(why))
    assert summary.documents == 3 and len(reasons) == 1 and "broken.docx" in reasons[0]
    return out, reasons[0]


def qdpx_entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in sorted(z.namelist())}


@pytest.mark.slow
def test_ray_writes_what_one_process_writes(ray_cluster, inputs, one_process, tiny_model,
                                            tmp_path):
    expected, reason = one_process
    out = tmp_path / "out.jsonl"
    result = invoke("code", inputs, "--out", out, "--model", tiny_model, "--engine", "ray",
                    "--actors", 2)
    assert result.exit_code == 1, result.output  # as one process: a file could not be read
    assert "1 file(s) could not be read" in result.output and reason in result.output
    assert out.read_text(encoding="utf-8") == expected.read_text(encoding="utf-8")
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 49 + SUGGEST_CHUNK + 8  # 49 example segments (title not coded)
    assert "3 document(s)" in result.output and not (tmp_path / "out.jsonl.parts").exists()


@pytest.mark.slow
def test_an_actor_killed_mid_batch_loses_and_duplicates_nothing(ray_cluster, inputs, one_process,
                                                                tiny_model, tmp_path,
                                                                monkeypatch):
    from service.batch import PrecodeOptions
    from service.ray_engine import RayOptions, run_batch_ray

    expected, _ = one_process
    marker = tmp_path / "crashed"
    monkeypatch.setenv("PRECODE_RAY_CRASH_ONCE", str(marker))
    out = tmp_path / "out.jsonl"
    summary = run_batch_ray([inputs], out, tiny_model, PrecodeOptions(), writer=jsonl_and_qdpx,
                            ray_options=RayOptions(actors=2))
    assert marker.exists()  # an actor did die after coding a batch, before answering
    assert summary.documents == 3 and summary.segments == 49 + SUGGEST_CHUNK + 8
    keys = [(r["document"], r["segment_id"])
            for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())]
    assert len(keys) == len(set(keys)) == summary.segments
    assert out.read_text(encoding="utf-8") == expected.read_text(encoding="utf-8")
    # the REFI-QDA project too (its GUIDs and dates are fixed by its content)
    assert qdpx_entries(out.with_suffix(".qdpx")) == qdpx_entries(expected.with_suffix(".qdpx"))


@pytest.mark.slow
def test_a_rerun_resumes_across_engines(ray_cluster, inputs, one_process, tiny_model, tmp_path):
    from models.suggester import Suggester
    from service.batch import PrecodeOptions, run_batch, write_jsonl
    from service.ray_engine import RayOptions, run_batch_ray

    expected, _ = one_process

    def stop_before_writing(records, out, model, **_):
        raise KeyboardInterrupt

    out = tmp_path / "out.jsonl"
    parts = tmp_path / "out.jsonl.parts"
    with pytest.raises(KeyboardInterrupt):
        run_batch_ray([inputs], out, tiny_model, PrecodeOptions(), writer=stop_before_writing,
                      ray_options=RayOptions(actors=1))
    assert len(list(parts.glob("*.jsonl"))) == 3 and not out.exists()
    sorted(parts.glob("*.jsonl"))[0].unlink()  # as if stopped before the last file was done
    # one process takes over the Ray run's parts...
    result = invoke("code", inputs, "--out", out, "--model", tiny_model)
    assert result.exit_code == 1 and "2 resumed" in result.output, result.output
    assert out.read_text(encoding="utf-8") == expected.read_text(encoding="utf-8")
    # ...and the Ray engine one process's
    with pytest.raises(KeyboardInterrupt):
        run_batch([inputs], out, Suggester.load(tiny_model), PrecodeOptions(),
                  writer=stop_before_writing)
    out.unlink()
    summary = run_batch_ray([inputs], out, tiny_model, PrecodeOptions(), writer=write_jsonl,
                            ray_options=RayOptions(actors=1))
    assert summary.resumed == 3 and summary.documents == 3 and len(summary.failed) == 1
    assert out.read_text(encoding="utf-8") == expected.read_text(encoding="utf-8")
    assert not parts.exists()


def test_without_ray_the_engine_asks_for_the_extra(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as where Ray is not installed
    result = invoke("code", EXAMPLES, "--out", tmp_path / "o.jsonl", "--model", tiny_model,
                    "--engine", "ray")
    assert result.exit_code == 2 and "install precode[ray]" in result.output
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("args,message", [
    (["--engine", "spark"], "unknown engine 'spark'"),
    (["--address", "127.0.0.1:6379"], "need --engine ray"),
    (["--engine", "ray", "--actors", "0"], "must be 1 or more"),
    (["--engine", "ray", "--address", "127.0.0.1:9"], "cannot reach the Ray cluster at"),
])
def test_bad_engine_options(tiny_model, tmp_path, args, message):
    result = invoke("code", EXAMPLES, "--out", tmp_path / "o.jsonl", "--model", tiny_model,
                    *args)
    assert result.exit_code == 2 and message in result.output


@pytest.mark.slow
def test_a_precode_job_on_ray_writes_what_the_server_writes(ray_cluster, tiny_suggester,
                                                            tmp_path, monkeypatch):
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from service.api.app import create_app
    from service.db.models import Segment, Suggestion
    from tests.service.conftest import CSV_TABLE, TRANSCRIPT, VTT, api_for, make_settings, new_project

    settings = make_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'precode.db'}")
    app = create_app(settings, suggester=tiny_suggester)
    with TestClient(app) as client:
        app.state.client = client
        owner = api_for(app, "owner")
        projects = {}
        for engine in ("local", "ray"):
            pid = projects[engine] = new_project(owner)
            for name, data in (("falls.txt", TRANSCRIPT), ("pathway.vtt", VTT),
                               ("table.csv", CSV_TABLE)):
                assert owner.upload(pid, name, data.encode()).status_code == 201
            res = owner.post(f"/v1/projects/{pid}/jobs",
                             json={"kind": "precode", "min_confidence": 0.0,
                                   **({"engine": "ray"} if engine == "ray" else {})})
            assert res.status_code == 202, res.text
            job = owner.wait_job(res.json()["id"], timeout=300)
            assert job["status"] == "succeeded" and job["done"] == 3, job
        bad = owner.post(f"/v1/projects/{projects['ray']}/jobs",
                         json={"kind": "precode", "ray_address": "127.0.0.1:6379"})
        assert bad.status_code in (400, 422) and "ray_address" in bad.text
        monkeypatch.setitem(sys.modules, "ray", None)  # a server without Ray: said at once
        bad = owner.post(f"/v1/projects/{projects['ray']}/jobs",
                         json={"kind": "precode", "engine": "ray"})
        assert bad.status_code in (400, 422) and "install precode[ray]" in bad.text
        monkeypatch.undo()

        def suggestions(pid):
            with app.state.sessions() as session:
                rows = session.execute(
                    select(Segment.text, Suggestion.code, Suggestion.confidence,
                           Suggestion.threshold, Suggestion.evidence)
                    .join(Suggestion, Suggestion.segment_id == Segment.id)
                    .where(Suggestion.project_id == pid)).all()
            return sorted((t, c, conf, th, repr(ev)) for t, c, conf, th, ev in rows)

        local = suggestions(projects["local"])
        assert local and suggestions(projects["ray"]) == local
    assert not list((tmp_path / "home" / "ray").glob("*"))  # the model copy is gone


@pytest.mark.slow
def test_ray_reads_each_answer_with_its_question_across_chunks(ray_cluster, tmp_path):
    """A model trained with contexts, a transcript whose answers outrun one model call: the
    answers cut into the second chunk still carry the question asked in the first."""
    from models.suggester import Suggester
    from service.batch import PrecodeOptions, run_batch, write_jsonl
    from tests.training.test_context import BOOK, FROZEN, NEW_YES, QUESTIONS, _excerpts
    from training.train import train_model

    model = train_model(_excerpts(), BOOK, tmp_path / "model", args=FROZEN, progress=False)
    lines = []
    for question, n in zip(QUESTIONS.values(), (SUGGEST_CHUNK + 4, 3, 3), strict=True):
        lines.append(f"Interviewer: {question}")
        lines += [f"P{k % 2 + 1}: {NEW_YES} Number {k}, that is just how it goes." for k in range(n)]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "long.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    one = tmp_path / "one.jsonl"
    run_batch([folder], one, Suggester.load(model), PrecodeOptions(all_scores=True),
              writer=write_jsonl)
    out = tmp_path / "ray.jsonl"
    result = invoke("code", folder, "--out", out, "--model", model, "--engine", "ray",
                    "--actors", 2, "--all-scores")
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == one.read_text(encoding="utf-8")
    answers = [r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())
               if r["coded"]]
    codes = [max(r["scores"], key=r["scores"].get) for r in answers]
    assert codes == ["reuse"] * (SUGGEST_CHUNK + 4) + ["manager"] * 3 + ["paper"] * 3
