"""A coder's session on the review page, in Chromium: sign in with a token, review 20 suggestions
with the keyboard alone (and undo one), accept a code's confident suggestions in bulk after a
preview, export, and read the agreement. The tests follow one project in order."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import zipfile

from playwright.sync_api import Page, expect
from typer.testing import CliRunner

from service.cli import app as cli

KEY_BUDGET = 25  # keystrokes for 20 decisions and an undo
NEAR_DUPLICATE = 0.5


def sign_in(page: Page, url: str, token: str) -> None:
    page.goto(url + "/")
    expect(page.get_by_label("API token")).to_be_focused()
    page.keyboard.type(token)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()


def open_project(page: Page) -> None:
    page.get_by_role("link", name="Falls clinic interviews").click()
    expect(page.locator("#documents tbody tr")).to_have_count(1)


def shown(page: Page) -> int:
    """The suggestion on the screen."""
    page.wait_for_selector("#view-review[data-suggestion]", state="attached")
    return int(page.locator("#view-review").get_attribute("data-suggestion"))


def wait_for_next(page: Page, before: int) -> None:
    page.wait_for_function(
        "(before) => document.querySelector('#view-review').dataset.suggestion !== String(before)"
        " || !document.querySelector('#review-empty').hidden", arg=before)


def words(text: str) -> set[str]:
    return set(re.findall(r"[\w']+", text.lower()))


def near_duplicates(a: dict, b: dict) -> bool:
    """The same code on two segments with nearly the same words."""
    if a["code"] != b["code"] or a["segment"]["id"] == b["segment"]["id"]:
        return False
    x, y = words(a["segment"]["text"]), words(b["segment"]["text"])
    return len(x & y) / len(x | y) >= NEAR_DUPLICATE


def wait_for_statuses(client, project_id: int, expected: dict[int, tuple[str, str | None]],
                      page: Page) -> dict[int, dict]:
    """The suggestions once the server has every decision the page sent."""
    for _ in range(100):
        got = {i: client.ok("get", f"/v1/projects/{project_id}/suggestions/{i}") for i in expected}
        if all((got[i]["status"], got[i]["decided_code"]) == want for i, want in expected.items()):
            return got
        page.wait_for_timeout(100)
    raise AssertionError({i: (g["status"], g["decided_code"]) for i, g in got.items()})


def test_twenty_suggestions_reviewed_with_the_keyboard_alone(page: Page, server, project,
                                                             screenshots):
    ana, _, project_id = project
    queue_before = ana.pending(project_id, order="uncertainty")
    by_id = {s["id"]: s for s in queue_before}
    # the most uncertain suggestions, in the API's order, put near-duplicates side by side
    assert any(near_duplicates(a, b) for a, b in zip(queue_before[:20], queue_before[1:21], strict=True))
    codebook = {c["id"]: c for c in ana.ok("get", f"/v1/projects/{project_id}/codebook")["codes"]}

    sign_in(page, server.url, ana.token)
    open_project(page)
    expect(page.locator("#documents tbody tr").first).to_contain_text(f"0 / {len(queue_before)}")
    page.get_by_role("button", name="Start reviewing").click()
    expect(page.locator("#review-pane")).to_be_visible()
    expect(page.locator("#review-pane")).to_be_focused()

    first = by_id[shown(page)]
    # the code's definition, and the evidence as text with code labels, never excerpt ids
    expect(page.locator("#s-definition")).to_have_text(codebook[first["code"]]["definition"])
    evidence = page.locator("#s-evidence li")
    expect(evidence).to_have_count(min(3, len(first["evidence"])))
    expect(evidence.first).to_contain_text(first["evidence"][0]["text"])
    expect(evidence.first).to_contain_text(codebook[first["evidence"][0]["codes"][0]]["label"])
    assert not re.search(r"\bt\d\d\b", page.locator("#s-evidence").inner_text())
    # the page rounds half up (JavaScript's Math.round), as people read percentages
    shown_pct = math.floor(first["confidence"] * 100 + 0.5)
    expect(page.locator("#s-confidence")).to_contain_text(f"{shown_pct}%")
    # the segment between its neighbouring turns, the model's suggestion marked as such
    turns = page.locator("#context li.turn")
    expect(page.locator("#context li.turn.current .text")).to_have_text(first["segment"]["text"])
    assert turns.count() >= 3
    ai_chip = page.locator(f"#context li.turn.current .chip[data-suggestion='{first['id']}']")
    expect(ai_chip).to_have_class(re.compile(r"\bai\b"))
    expect(ai_chip).to_contain_text(codebook[first["code"]]["label"])
    assert ai_chip.evaluate("e => getComputedStyle(e).borderTopStyle") == "dashed"
    page.screenshot(path=screenshots / "review.png")

    page.evaluate("window.notReloaded = true")
    keystrokes, order, expected = 0, [], {}
    human = []  # (suggestion, border style) of the chips shown as a person's coding
    for i in range(20):
        current = shown(page)
        order.append(by_id[current])
        human += page.evaluate("() => [...document.querySelectorAll('#context .chip.human')]"
                               ".map(e => [Number(e.dataset.suggestion),"
                               " getComputedStyle(e).borderTopStyle])")
        if i in (6, 13):  # another code: the second one offered
            key = "2"
            code = page.locator("#alternatives li:nth-child(2) button").get_attribute("data-code")
            expected[current] = ("changed", code)
        elif i % 5 == 3:
            key = "x"
            expected[current] = ("rejected", None)
        else:
            key = "a"
            expected[current] = ("accepted", by_id[current]["code"])
        page.keyboard.press(key)
        keystrokes += 1
        wait_for_next(page, current)
    # the queue spreads near-duplicates out
    assert not any(near_duplicates(a, b) for a, b in zip(order, order[1:], strict=False))

    # a decided suggestion no longer looks like the model's: a solid, human coding
    assert human, "no decided suggestion was on the screen next to another"
    assert {sid for sid, _ in human} <= set(expected)
    assert {style for _, style in human} == {"solid"}

    # undo the last decision: it comes back pending, its decision withdrawn
    last = order[-1]["id"]
    page.keyboard.press("Backspace")
    keystrokes += 1
    page.wait_for_function("(id) => document.querySelector('#view-review').dataset.suggestion"
                           " === String(id)", arg=last)
    expect(page.locator("#s-decided")).to_be_hidden()
    expect(page.locator("#suggestion-title .badge")).to_be_visible()
    chip = page.locator(f"#context .chip[data-suggestion='{last}']")
    expect(chip).to_have_class(re.compile(r"\bai\b"))
    assert chip.evaluate("e => getComputedStyle(e).borderTopStyle") == "dashed"
    expect(page.locator("#my-progress [data-field=decided]")).to_have_text("19")
    expect(page.locator("#my-progress [data-field=pending]")).to_have_text(
        str(len(queue_before) - 19))
    withdrawn = wait_for_statuses(ana, project_id, {last: ("pending", None)}, page)[last]
    assert withdrawn["decisions"] == [] and withdrawn["reviews"][-1]["action"] == "undo"
    assert last in {s["id"] for s in ana.pending(project_id)}
    progress = ana.ok("get", f"/v1/projects/{project_id}/progress")
    assert (progress["decided"], progress["pending"]) == (19, len(queue_before) - 19)
    # and decided again
    page.keyboard.press("x")
    keystrokes += 1
    expected[last] = ("rejected", None)

    assert keystrokes <= KEY_BUDGET
    assert page.evaluate("window.notReloaded") is True  # no page load in between
    got = wait_for_statuses(ana, project_id, expected, page)
    assert [r["action"] for r in got[last]["reviews"]][-2:] == ["undo", "reject"]
    assert {r["reviewer"] for g in got.values() for r in g["reviews"]} == {"ana"}
    # the coder's own progress
    expect(page.locator("#my-progress [data-field=decided]")).to_have_text("20")
    expect(page.locator("#my-progress [data-field=pending]")).to_have_text(
        str(len(queue_before) - 20))

    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.screenshot(path=screenshots / "keys.png")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()


def test_bulk_accept_previews_how_many_it_will_accept(page: Page, server, project, screenshots):
    ana, _, project_id = project
    pending = ana.pending(project_id)
    # a code and a threshold (in the form's steps of 0.01) that split its pending suggestions
    by_code: dict[str, list[float]] = {}
    for s in pending:
        by_code.setdefault(s["code"], []).append(s["confidence"])
    splits = [(c, math.ceil(low * 100 + 1e-9) / 100) for c in sorted(by_code)
              for low in by_code[c] if math.ceil(low * 100 + 1e-9) / 100 <= max(by_code[c])]
    code, threshold = max(splits, key=lambda s: min(
        sum(x >= s[1] for x in by_code[s[0]]), sum(x < s[1] for x in by_code[s[0]])))
    matching = {s["id"] for s in pending if s["code"] == code and s["confidence"] >= threshold}
    assert matching and len(matching) < len([s for s in pending if s["code"] == code])
    label = {c["id"]: c["label"] for c in
             ana.ok("get", f"/v1/projects/{project_id}/codebook")["codes"]}[code]

    sign_in(page, server.url, ana.token)
    open_project(page)
    # a model learnt from the project's own kind of codings: no caution about real speech
    expect(page.locator("#model-caution")).to_be_hidden()
    expect(page.locator("#bulk-caution")).to_be_hidden()
    page.get_by_label("Every pending suggestion of").select_option(code)
    page.get_by_label("with a confidence of at least").fill(str(threshold))
    expect(page.locator("#bulk-confirm")).to_be_disabled()
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#bulk-result")).to_contain_text(f"{len(matching)} pending suggestion(s) "
                                                         f"of {label}")
    assert len(ana.pending(project_id)) == len(pending)  # a preview changes nothing
    page.screenshot(path=screenshots / "project.png", full_page=True)

    page.get_by_role("button", name=f"Accept {len(matching)}").click()
    expect(page.locator("#bulk-result")).to_contain_text(f"Accepted {len(matching)} suggestion(s)")
    expect(page.locator("#my-progress [data-field=pending]")).to_have_text(
        str(len(pending) - len(matching)))
    assert {s["id"] for s in pending} - {s["id"] for s in ana.pending(project_id)} == matching
    for i in matching:
        detail = ana.ok("get", f"/v1/projects/{project_id}/suggestions/{i}")
        assert detail["status"] == "accepted" and detail["reviews"][-1]["reviewer"] == "ana"


def _download(page: Page, button: str):
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    return info.value


def _latest_decisions(client, project_id: int, reviewer: str) -> dict[int, str | None]:
    """Suggestion -> the code of the reviewer's decision standing on it (none: rejected)."""
    reviews = client.ok("get", f"/v1/projects/{project_id}/reviews",
                        params={"reviewer": reviewer, "limit": 1000})["items"]
    latest: dict[int, str | None] = {}
    for r in reviews:
        if r["action"] == "undo":
            latest.pop(r["suggestion_id"], None)
        elif r["action"] != "consensus":
            latest[r["suggestion_id"]] = r["code"]
    return latest


def test_export_holds_the_reviewed_codings(page: Page, server, project, tmp_path):
    ana, _, project_id = project
    sign_in(page, server.url, ana.token)
    open_project(page)
    download = _download(page, "CSV")
    assert download.suggested_filename == f"project-{project_id}.csv"
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    exported = {(r["unit"], r["code"]) for r in rows if r["coder"] == "ana"}

    decisions = _latest_decisions(ana, project_id, "ana")
    assert len(decisions) >= 20
    given: dict[str, set] = {}  # unit -> the codes ana accepted or changed to
    rejected = []
    for suggestion_id, code in decisions.items():
        s = ana.ok("get", f"/v1/projects/{project_id}/suggestions/{suggestion_id}")
        unit = f"{s['document']}:{s['segment']['start']}-{s['segment']['end']}"
        given.setdefault(unit, set())
        if code is None:
            rejected.append((unit, s["code"]))
        else:
            given[unit].add(code)
    assert rejected and {u for u, _ in exported} == set(given)
    assert {(u, c) for u, codes in given.items() for c in codes} <= exported
    for unit, code in rejected:  # a rejected code is not there, unless given by a sub-code
        if not any(c == code or c.startswith(code + ".") for c in given[unit]):
            assert (unit, code) not in exported

    qdpx = _download(page, "REFI-QDA (.qdpx)")
    with zipfile.ZipFile(qdpx.path()) as archive:
        project_xml = archive.read("project.qde").decode("utf-8")
    assert 'name="ana"' in project_xml
    expect(page.locator("#export-result")).to_contain_text(f"project-{project_id}.qdpx")


def precode_agree(rows: list[dict], folder) -> dict:
    """``precode agree`` (JSON, no bootstrap) on these rows of the CSV export."""
    path = folder / f"codings-{len(list(folder.iterdir()))}.csv"
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = CliRunner().invoke(cli, ["agree", str(path), "--format", "json", "--bootstrap", "0",
                                      "--codebook", "npt,integrating"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cells(locator) -> list[tuple[str, str, dict[str, str]]]:
    """(pair, code, {field: value}) of each row of a figures table on the page."""
    return locator.evaluate_all(
        "rows => rows.map(r => [r.dataset.pair || '', r.dataset.code || '', Object.fromEntries("
        "[...r.querySelectorAll('td[data-field]')].map(td => [td.dataset.field, td.dataset.value]))"
        "])")


def same(cell: str, expected) -> bool:
    expected = expected["value"] if isinstance(expected, dict) else expected
    return (cell == "" and expected is None) or abs(float(cell) - expected) < 1e-9


def test_agreement_on_the_page_matches_precode_agree(page: Page, server, project, screenshots,
                                                     tmp_path):
    ana, ben, project_id = project
    # a second coder decides on segments the first decided, differently now and then
    decided = sorted(_latest_decisions(ana, project_id, "ana"))
    for n, suggestion_id in enumerate(decided[:12]):
        ben.ok("post", f"/v1/projects/{project_id}/suggestions/{suggestion_id}/review",
               json={"action": "reject" if n % 3 == 0 else "accept"})
    export = ana.get(f"/v1/projects/{project_id}/export.csv").text
    rows = list(csv.DictReader(io.StringIO(export)))
    everyone = precode_agree(rows, tmp_path)
    assert set(everyone["coders"]) == {"precode model", "ana", "ben"}

    sign_in(page, server.url, ana.token)
    open_project(page)
    page.get_by_role("button", name="Compute agreement").click()
    pairs = page.locator("#agreement-pairs tbody tr")
    expect(pairs).to_have_count(3)
    # coder against model and coder against coder, told apart
    expect(page.locator("#agreement-pairs tr.coder-pair th")).to_have_text("ana vs ben")
    expect(page.locator("#agreement-pairs tr.model-pair")).to_have_count(2)
    shown_pairs = cells(pairs)
    assert {p for p, _, _ in shown_pairs} == {"precode model|ana", "precode model|ben", "ana|ben"}
    for pair, _, figures in shown_pairs:  # each pair: precode agree on those two coders' rows
        a, b = pair.split("|")
        two = precode_agree([r for r in rows if r["coder"] in (a, b)], tmp_path)
        assert int(figures["n_units"]) == two["n_units_compared"]
        for field in ("percent_agreement", "cohen_kappa", "krippendorff_alpha"):
            assert same(figures[field], two["overall"][field]), (pair, field)
        per_code = cells(page.locator(f"tr[data-pair='{pair}'][data-code]"))
        assert {code for _, code, _ in per_code} == set(two["per_code"])
        for _, code, figures in per_code:
            for field in ("percent_agreement", "cohen_kappa", "krippendorff_alpha"):
                assert same(figures[field], two["per_code"][code][field]), (pair, code, field)
    codes = cells(page.locator("#agreement-codes tbody tr"))
    assert {code for _, code, _ in codes} == set(everyone["per_code"])
    for _, code, figures in codes:  # three coders together: Fleiss' kappa
        assert set(figures) == {"n_units", "percent_agreement", "fleiss_kappa",
                                "krippendorff_alpha"}
        for field in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha"):
            assert same(figures[field], everyone["per_code"][code][field]), (code, field)
    page.locator("details.pair-codes summary").first.click()
    page.locator(".topbar").evaluate("e => { e.style.position = 'static'; }")  # for the picture
    page.locator("#agreement").screenshot(path=screenshots / "agreement.png")


def test_queues_by_code_and_by_document_and_a_memo(page: Page, server, project):
    ana, _, project_id = project
    sign_in(page, server.url, ana.token)
    open_project(page)
    page.get_by_label("Code to review").select_option("integrating.negotiating")
    expect(page.get_by_role("radio", name="By code")).to_be_checked()
    page.get_by_role("button", name="Start reviewing").click()
    want = ana.pending(project_id, code="integrating.negotiating")
    assert want
    seen = []
    for _ in want:
        seen.append(shown(page))
        expect(page.locator("#s-label")).to_have_text("Negotiating")
        page.keyboard.press("Space")
        wait_for_next(page, seen[-1])
    expect(page.locator("#review-empty")).to_be_visible()
    assert sorted(seen) == sorted(s["id"] for s in want)

    page.get_by_role("link", name="Falls clinic interviews").click()
    page.get_by_role("link", name="Review clinic.txt").click()
    expect(page.locator("#review-pane")).to_be_visible()
    in_text_order = [s["id"] for s in ana.pending(project_id, order="position")]
    for expected in in_text_order[:5]:
        assert shown(page) == expected
        page.keyboard.press("Space")
        wait_for_next(page, expected)

    segment = ana.ok("get", f"/v1/projects/{project_id}/suggestions/{shown(page)}")["segment"]
    page.keyboard.press("m")
    expect(page.get_by_label("Your memo")).to_be_focused()
    page.keyboard.type("Quoting the ward manager here, not her own view.")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#memo-list")).to_contain_text("ana: Quoting the ward manager here")
    expect(page.locator("#review-pane")).to_be_focused()
    memos = ana.ok("get", f"/v1/projects/{project_id}/segments/{segment['id']}/memos")
    assert [(m["author"], m["text"]) for m in memos] == [
        ("ana", "Quoting the ward manager here, not her own view.")]


def test_a_second_coder_codes_blind_before_seeing_the_model(page: Page, server, project,
                                                            screenshots):
    ana, ben, project_id = project
    ana.ok("patch", f"/v1/projects/{project_id}", json={"blind": True})
    try:
        sign_in(page, server.url, ben.token)
        open_project(page)
        page.get_by_role("link", name="Code clinic.txt blind").click()
        page.wait_for_selector("#view-blind[data-segment]", state="attached")
        segment_id = int(page.locator("#view-blind").get_attribute("data-segment"))
        url = f"/v1/projects/{project_id}/segments/{segment_id}/blind"
        before = ben.ok("get", url)
        assert not before["coded"] and before["suggestions"] == []
        # the model's suggestions are not on the page until the coder has coded the segment
        expect(page.locator("#blind-after")).to_be_hidden()
        expect(page.locator("#view-blind .chip")).to_have_count(0)
        expect(page.get_by_label("Find a code")).to_be_focused()
        page.keyboard.type("negot")
        page.keyboard.press("Enter")
        expect(page.get_by_role("checkbox", name="Negotiating")).to_be_checked()
        page.keyboard.press("Control+Enter")
        expect(page.locator("#blind-after")).to_be_visible()
        after = ben.ok("get", url)
        assert after["coded"] and after["my_codes"] == ["integrating.negotiating"]
        model = [x for x in after["suggestions"] if x["origin"] == "model"]
        assert model, "the segment has the model's suggestions"
        expect(page.locator("#blind-suggestions .chip")).to_have_count(len(model))
        for suggestion in model:
            expect(page.locator("#blind-suggestions")).to_contain_text(suggestion["label"])
        expect(page.locator("#blind-mine")).to_have_text("You coded it: Negotiating.")
        page.screenshot(path=screenshots / "blind.png")
        page.keyboard.press("n")
        page.wait_for_function("(id) => document.querySelector('#view-blind').dataset.segment"
                               " !== String(id)", arg=segment_id)
        expect(page.locator("#blind-pos")).to_contain_text("Segment")
    finally:
        ana.ok("patch", f"/v1/projects/{project_id}", json={"blind": False})


def test_a_wrong_token_is_refused_and_signing_out_forgets_the_token(page: Page, server, project):
    ana, _, _ = project
    page.goto(server.url + "/")
    page.get_by_label("API token").fill("pc_not-a-token")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text(
        "That token is not valid (unknown, revoked or expired).")
    assert page.evaluate("sessionStorage.length") == 0
    page.get_by_label("API token").fill(ana.token)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_hidden()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_docs_work_with_no_network(page: Page, server):
    elsewhere, errors = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def only_the_server(route):
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    page.goto(server.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("precode")
    expect(page.locator(".opblock-summary-path", has_text="/bulk-accept").first).to_be_visible()
    page.goto(server.url + "/redoc")
    expect(page.locator("h1", has_text="precode")).to_be_visible()
    page.goto(server.url + "/")
    expect(page.get_by_label("API token")).to_be_visible()
    assert elsewhere == [] and errors == []


def test_usable_at_200_percent_zoom_with_the_keyboard(browser, server, project, screenshots):
    ana, _, project_id = project
    # 1280x800 at 200% zoom: a 640x400 CSS-pixel viewport
    context = browser.new_context(viewport={"width": 640, "height": 400}, device_scale_factor=2)
    page = context.new_page()
    try:
        sign_in(page, server.url, ana.token)
        page.keyboard.press("Tab")  # from the page to its first control: the skip link
        focused = page.evaluate_handle("document.activeElement")
        assert focused.evaluate("e => getComputedStyle(e).outlineStyle") != "none"
        page.goto(server.url + f"/#/p/{project_id}/review?order=uncertainty")
        expect(page.locator("#review-pane")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= "
                             "document.documentElement.clientWidth")
        for name in ("Accept a", "Reject x", "Skip space"):
            button = page.get_by_role("button", name=name)
            button.scroll_into_view_if_needed()
            expect(button).to_be_in_viewport()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=screenshots / "review-200-percent.png")
        page.locator("#review-pane").focus()
        before = shown(page)
        page.keyboard.press("Space")
        wait_for_next(page, before)
        # the keys work from a focused button too: Tab to "Accept", then press it
        page.locator("#btn-reject").focus()
        page.keyboard.press("Shift+Tab")
        expect(page.locator("#btn-accept")).to_be_focused()
        assert page.locator("#btn-accept").evaluate("e => getComputedStyle(e).outlineStyle") \
            != "none"
        current = shown(page)
        page.keyboard.press("Enter")
        wait_for_next(page, current)
        for _ in range(50):
            if ana.ok("get", f"/v1/projects/{project_id}/suggestions/{current}")["status"] \
                    == "accepted":
                break
            page.wait_for_timeout(100)
        assert ana.ok("get", f"/v1/projects/{project_id}/suggestions/{current}")["status"] \
            == "accepted"
    finally:
        context.close()


def _suggestions(client, project_id: int, **params) -> list[dict]:
    return client.ok("get", f"/v1/projects/{project_id}/suggestions",
                     params={"limit": 500, **params})["items"]


def test_an_owner_settles_the_consensus_on_the_page(page: Page, server, project):
    ana, ben, project_id = project
    # the first unsettled suggestion in text order that ana accepted; ben rejects it
    accepted = {i for i, code in _latest_decisions(ana, project_id, "ana").items() if code}
    unsettled = _suggestions(ana, project_id, consensus="pending", order="position")
    split = next(n for n, s in enumerate(unsettled) if s["id"] in accepted)
    target = unsettled[split]["id"]
    ben.ok("post", f"/v1/projects/{project_id}/suggestions/{target}/review",
           json={"action": "reject"})

    sign_in(page, server.url, ana.token)
    open_project(page)
    page.get_by_role("radio", name="Settle the consensus").check()
    page.get_by_role("button", name="Start reviewing").click()
    expect(page.locator("#review-pane")).to_be_focused()
    for expected in [s["id"] for s in unsettled[:split]]:  # space: on to the next one
        assert shown(page) == expected
        page.keyboard.press("Space")
        wait_for_next(page, expected)
    assert shown(page) == target
    # each coder's own decision, side by side
    decisions = page.locator("#consensus-decisions li")
    expect(page.locator("#consensus-decisions li[data-coder=ana]")).to_have_attribute(
        "data-status", "accepted")
    expect(page.locator("#consensus-decisions li[data-coder=ben]")).to_have_attribute(
        "data-status", "rejected")
    expect(decisions).to_have_count(2)
    expect(page.locator("#consensus-state")).to_have_text("Consensus: not settled yet.")
    expect(page.get_by_role("button", name="Consensus: reject x")).to_be_visible()
    page.keyboard.press("x")  # settled: rejected, and on to the next one
    wait_for_next(page, target)
    settled = ana.ok("get", f"/v1/projects/{project_id}/suggestions/{target}")
    assert (settled["consensus"]["status"], settled["consensus"]["by"]) == ("rejected", "ana")
    # the coders' own decisions stay as they were
    assert settled["status"] == "accepted"
    assert ben.ok("get", f"/v1/projects/{project_id}/suggestions/{target}")["status"] \
        == "rejected"

    # in the owner's own queue: c shows each coder's decision, then a settles the consensus
    page.get_by_role("link", name="Falls clinic interviews").click()
    page.get_by_role("radio", name="Most uncertain first").check()
    page.get_by_role("button", name="Start reviewing").click()
    expect(page.locator("#review-pane")).to_be_focused()
    current = shown(page)
    ben.ok("post", f"/v1/projects/{project_id}/suggestions/{current}/review",
           json={"action": "accept"})
    expect(page.locator("#consensus-decisions")).to_be_hidden()
    page.keyboard.press("c")
    expect(page.locator("#review-pane")).to_have_class(re.compile(r"\bconsensus-mode\b"))
    expect(page.locator("#consensus-decisions li[data-coder=ben]")).to_have_attribute(
        "data-status", "accepted")
    page.keyboard.press("a")
    expect(page.locator("#consensus-state")).to_contain_text("Consensus: accepted")
    expect(page.locator("#review-pane")).not_to_have_class(re.compile(r"\bconsensus-mode\b"))
    assert shown(page) == current  # still there: ana's own decision is still to be taken
    expect(page.locator("#s-decided")).to_be_hidden()
    mine = ana.ok("get", f"/v1/projects/{project_id}/suggestions/{current}")
    assert mine["consensus"]["status"] == "accepted" and mine["status"] == "pending"
    # c, then Esc: back to deciding for herself
    page.keyboard.press("c")
    expect(page.locator("#review-pane")).to_have_class(re.compile(r"\bconsensus-mode\b"))
    page.keyboard.press("Escape")
    expect(page.locator("#review-pane")).not_to_have_class(re.compile(r"\bconsensus-mode\b"))
    page.keyboard.press("a")
    wait_for_next(page, current)
    for _ in range(50):
        mine = ana.ok("get", f"/v1/projects/{project_id}/suggestions/{current}")
        if mine["status"] == "accepted":
            break
        page.wait_for_timeout(100)
    assert mine["status"] == "accepted"


def test_the_consensus_is_not_offered_to_coders(page: Page, server, project):
    _, ben, project_id = project
    sign_in(page, server.url, ben.token)
    open_project(page)
    expect(page.get_by_role("radio", name="Settle the consensus")).to_be_hidden()
    page.get_by_role("button", name="Start reviewing").click()
    expect(page.locator("#review-pane")).to_be_focused()
    current = shown(page)
    expect(page.locator("#consensus")).to_be_hidden()
    page.keyboard.press("c")
    expect(page.locator("#review-pane")).not_to_have_class(re.compile(r"\bconsensus-mode\b"))
    assert shown(page) == current
    assert ben.ok("get", f"/v1/projects/{project_id}/suggestions/{current}")["consensus"] is None


def test_export_of_whose_codings_you_choose(page: Page, server, project):
    ana, ben, project_id = project
    settled = {s["id"]: s for consensus in ("accepted", "rejected", "changed")
               for s in _suggestions(ana, project_id, consensus=consensus, parents="true")}
    assert {s["consensus"]["status"] for s in settled.values()} >= {"accepted", "rejected"}
    sign_in(page, server.url, ana.token)
    open_project(page)

    def exported(choice: str, button: str = "CSV") -> str:
        page.get_by_label("Whose codings").select_option(label=choice)
        with open(_download(page, button).path(), encoding="utf-8", newline="") as f:
            return f.read()

    # the consensus: what the owner settled, and nothing else
    text = exported("The consensus")
    assert text == ana.get(f"/v1/projects/{project_id}/export.csv",
                           params={"consensus": "true"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["coder"] for r in rows} == {"precode consensus"}

    def unit(s: dict) -> str:
        return f"{s['document']}:{s['segment']['start']}-{s['segment']['end']}"

    assert {r["unit"] for r in rows} == {unit(s) for s in settled.values()}
    coded = {(r["unit"], r["code"]) for r in rows if r["code"]}
    for s in settled.values():
        c = s["consensus"]
        if c["status"] in ("accepted", "changed"):
            assert (unit(s), c["code"]) in coded
            assert any(r["reviewer"] == "ana" for r in rows if r["unit"] == unit(s))
    # one named coder's codings; your own
    bens = list(csv.DictReader(io.StringIO(exported("ben"))))
    assert bens and {r["coder"] for r in bens} == {"ben"}
    anas = list(csv.DictReader(io.StringIO(exported("Yours (ana)"))))
    assert anas and {r["coder"] for r in anas} == {"ana"}
    qdpx = _download(page, "REFI-QDA (.qdpx)")
    with zipfile.ZipFile(qdpx.path()) as archive:
        project_xml = archive.read("project.qde").decode("utf-8")
    assert 'name="ana"' in project_xml and 'name="ben"' not in project_xml
    # everyone again: the model and every coder
    everyone = list(csv.DictReader(io.StringIO(exported("Everyone"))))
    assert {"precode model", "ana", "ben"} <= {r["coder"] for r in everyone}
