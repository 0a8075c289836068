"""``python -m eval.bench.review_speed``: how fast the review page answers a coder, on this machine.

The real server (uvicorn on 127.0.0.1, SQLite) with a model, the example interview pre-coded, and
Chromium (Playwright, ``/usr/bin/chromium`` or ``PRECODE_CHROMIUM``) deciding suggestions with
the keyboard as a coder would, one key each. Measured side by side in one run:

- from the key press to the next suggestion on the screen (the page does not wait for the
  server: the decision is sent in the background, in order);
- the server's answer to each decision (``POST .../review``: recorded, and the model's evidence
  updated), timed by the browser;
- the server's answer to ``GET /healthz`` from the same page, the floor of any round trip;
- undo and bulk-accept preview answers.

The target is 100 ms for every action on a 2-core machine. Results: ``eval/results/review_speed.md``
and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "clinic_pharmacist_interview.txt"
RESULTS = ROOT / "eval" / "results"
CHROMIUM = os.environ.get("PRECODE_CHROMIUM", "/usr/bin/chromium")
TARGET_MS = 100

# in the page: the time from each key press to the next suggestion's id on the screen
WATCH = """() => {
  window.benchKeys = [];
  window.benchShown = [];
  document.addEventListener("keydown", () => window.benchKeys.push(performance.now()), true);
  new MutationObserver(() => window.benchShown.push(performance.now()))
    .observe(document.querySelector("#view-review"), {attributes: true,
                                                       attributeFilter: ["data-suggestion"]});
}"""
ROUND_TRIP = """async (n) => {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await (await fetch("/healthz")).text();
    times.push(performance.now() - t);
  }
  return times;
}"""


def _stats(values: list[float]) -> dict:
    values = sorted(values)
    return {"n": len(values), "median_ms": round(statistics.median(values), 1),
            "p95_ms": round(values[max(0, round(0.95 * len(values)) - 1)], 1),
            "max_ms": round(values[-1], 1)}


def _serve(app):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _project(app, url: str, transcript: Path, copies: int) -> tuple[str, int]:
    import httpx

    from service.services.users import create_user

    with app.state.sessions() as session:
        _, token = create_user(session=session, name="coder", admin=True)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=600) as http:
        project_id = http.post("/v1/projects", json={"name": "bench"}).json()["id"]
        for i in range(1, copies + 1):  # the interview as several documents, for more decisions
            name = f"{transcript.stem}-{i}{transcript.suffix}"
            http.post(f"/v1/projects/{project_id}/documents",
                      files={"file": (name, transcript.read_bytes(), "text/plain")})
        job = http.post(f"/v1/projects/{project_id}/jobs", json={"kind": "precode"}).json()
        while job["status"] not in ("succeeded", "failed"):
            time.sleep(0.2)
            job = http.get(f"/v1/jobs/{job['id']}").json()
        if job["status"] != "succeeded":
            raise RuntimeError(f"pre-coding failed: {job['error']}")
    return token, project_id


def measure(url: str, token: str, project_id: int, decisions: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        answers: dict[str, list[float]] = {"review": [], "bulk-accept": [], "undo": []}

        def finished(request):
            path = request.url.split("?")[0]
            kind = next((k for k in ("review", "bulk-accept") if path.endswith(k)), None)
            if kind == "review" and request.method == "DELETE":
                kind = "undo"  # the decision withdrawn
            elif request.method != "POST":
                kind = None
            if kind is not None:
                timing = request.timing
                answers[kind].append(timing["responseEnd"] - timing["requestStart"])

        page.on("requestfinished", finished)
        page.goto(url + "/")
        page.get_by_label("API token").fill(token)
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="Your projects").wait_for()
        page.goto(f"{url}/#/p/{project_id}/review?order=uncertainty")
        page.wait_for_selector("#view-review[data-suggestion]", state="attached")
        page.evaluate(WATCH)
        done = 0
        for _ in range(decisions):
            before = page.locator("#view-review").get_attribute("data-suggestion")
            if before is None:
                break
            page.keyboard.press("a")
            page.wait_for_function(
                "(b) => document.querySelector('#view-review').dataset.suggestion !== b", arg=before)
            done += 1
        deadline = time.monotonic() + 120
        while len(answers["review"]) < done and time.monotonic() < deadline:
            page.wait_for_timeout(50)  # every decision answered
        page.keyboard.press("Backspace")  # back to the last one, its decision withdrawn
        deadline = time.monotonic() + 30
        while not answers["undo"] and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        keys, shown = page.evaluate("[window.benchKeys, window.benchShown]")

        def to_screen(k: float) -> list[float]:
            after = [t - k for t in shown if t >= k]
            return [min(after)] if after else []

        to_next = [d for k in keys[:done] for d in to_screen(k)]
        undo = to_screen(keys[done]) if len(keys) > done else []
        healthz = page.evaluate(ROUND_TRIP, 30)
        page.goto(f"{url}/#/p/{project_id}")
        page.get_by_role("button", name="Preview").click()
        page.locator("#bulk-result[data-count]").wait_for()
        for _ in range(9):
            page.get_by_role("button", name="Preview").click()
            page.wait_for_timeout(50)
        browser.close()
    return {"decisions": done, "key_to_next_suggestion": _stats(to_next),
            "undo_to_suggestion_back": _stats(undo) if undo else None,
            "decision_answer": _stats(answers["review"]),
            "undo_answer": _stats(answers["undo"]) if answers["undo"] else None,
            "bulk_preview_answer": _stats(answers["bulk-accept"]),
            "healthz_answer": _stats(healthz)}


def write(result: dict, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "review_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    floor = result["healthz_answer"]["median_ms"]
    rows = [("key press to the next suggestion on the screen", "key_to_next_suggestion"),
            ("undo: key press to the last suggestion back", "undo_to_suggestion_back"),
            ("the server's answer to a decision", "decision_answer"),
            ("the server's answer to an undo (the decision withdrawn)", "undo_answer"),
            ("the server's answer to a bulk-accept preview", "bulk_preview_answer"),
            ("the server's answer to GET /healthz (the floor)", "healthz_answer")]
    lines = ["# The review page's speed", "",
             f"Written by `python -m eval.bench.review_speed` on {platform.machine()}, "
             f"{os.cpu_count()} cores, with {result['model']}: {result['decisions']} suggestions "
             f"of `{result['transcript']}` (uploaded {result['copies']} times) accepted with the "
             "keyboard in Chromium, one key each. "
             f"The target is {TARGET_MS} ms for every action. Load average during the run: "
             f"{result['load_average']} (other work on the machine slows every figure alike).",
             "",
             "| action | n | median ms | p95 ms | max ms | median / healthz |",
             "|---|---|---|---|---|---|"]
    for name, key in rows:
        s = result.get(key)
        if s:
            lines.append(f"| {name} | {s['n']} | {s['median_ms']} | {s['p95_ms']} | "
                         f"{s['max_ms']} | {s['median_ms'] / floor:.1f} |")
    lines += ["", "The page shows the next suggestion without waiting for the server; the "
              "decision is sent in the background, in order, and taken back on the page if the "
              "server refuses it."]
    path = out_dir / "review_speed.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _describe(model: Path) -> str:
    """A model directory in words, from its manifest."""
    manifest = json.loads((model / "precode.json").read_text())
    sources = ", ".join(manifest.get("training_sources") or []) or "coded excerpts"
    return (f"a model trained on {manifest['n_excerpts']} excerpts ({sources}) from "
            f"{manifest['base_model']}")


def run(out_dir: Path = RESULTS, *, model: Path | None = None, transcript: Path = EXAMPLE,
        copies: int = 4, decisions: int = 30) -> Path:
    import httpx

    from models.suggester import Suggester
    from service.api.app import create_app
    from service.settings import Settings

    if not Path(CHROMIUM).is_file():
        raise SystemExit(f"no Chromium at {CHROMIUM}: apt-get install -y chromium, or set "
                         "PRECODE_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="precode-bench-") as tmp:
        settings = Settings(home=Path(tmp), database_url=f"sqlite:///{tmp}/precode.db",
                            job_poll_seconds=0.05)
        # the built-in model as the server loads it (from the machine's cache; trained there
        # once, first, if need be)
        app = create_app(settings, suggester=Suggester.load(model) if model else None)
        server, thread, url = _serve(app)
        try:
            while httpx.get(url + "/readyz", timeout=10).status_code != 200:
                time.sleep(1)
            token, project_id = _project(app, url, transcript, copies)
            load = os.getloadavg()[0]
            result = measure(url, token, project_id, decisions)
            result["load_average"] = round(max(load, os.getloadavg()[0]), 1)
        finally:
            server.should_exit = True
            thread.join(30)
    result["model"] = "the built-in model" if model is None else _describe(model)
    result["transcript"] = transcript.name
    result["copies"] = copies
    return write(result, out_dir)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model directory (default: the built-in "
                                                   "model, trained once if need be)")
    parser.add_argument("--transcript", type=Path, default=EXAMPLE,
                        help="the interview to pre-code and review (default: the example)")
    parser.add_argument("--copies", type=int, default=4,
                        help="upload the interview this many times (more suggestions to decide)")
    parser.add_argument("--decisions", type=int, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    print(run(args.out, model=args.model, transcript=args.transcript, copies=args.copies,
              decisions=args.decisions))
