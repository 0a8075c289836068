"""The model as a coder against gold codings, next to the human-human figures."""

import json

from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()


def write_coder(path, coder, rows):
    path.write_text("id,text,codes,coder\n" + "".join(
        f'{i},"{t}",{c},{coder}\n' for i, (t, c) in enumerate(rows)), encoding="utf-8")


ROWS = [
    ("I told the lab we would pay their courier if they ran our samples first.",
     "integrating.negotiating"),
    ("We swapped two night shifts with the ward for their clinic room on Fridays.",
     "integrating.negotiating"),
    ("Each month we count how many forms came back and put it on a chart.",
     "npt.reflexive_monitoring.systematization"),
    ("The audit looked at every referral in March to check the score was recorded.",
     "npt.reflexive_monitoring.systematization"),
    ("My son lives in Bristol now, he moved last year.", ""),
    ("Can you say a bit more about that?", ""),
]


def test_evaluate_reports_model_and_human_agreement(tiny_model, tmp_path):
    a, b = tmp_path / "ana.csv", tmp_path / "ben.csv"
    write_coder(a, "ana", ROWS)
    other = list(ROWS)
    other[1] = (ROWS[1][0], "")  # ben missed one
    write_coder(b, "ben", other)
    result = runner.invoke(app, ["evaluate", str(a), str(b), "--model", str(tiny_model),
                                 "--format", "json", "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["gold_coder"] == "ana" and report["n_units"] == 6
    per_code = report["classifier"]["codes"]["per_code"]
    assert per_code["integrating.negotiating"]["support"] == 2
    assert set(report["model_vs_gold"]["coders"]) == {"ana", "model"}
    assert set(report["human_vs_human"]["coders"]) == {"ana", "ben"}
    assert report["human_vs_human"]["overall"]["percent_agreement"] < 1.0
    table = runner.invoke(app, ["evaluate", str(a), "--model", str(tiny_model), "--bootstrap",
                                "0"])
    assert table.exit_code == 0 and "model vs gold" in table.output
    assert "human vs human" not in table.output
    # one kappa per comparison, over the codes the report names, parents derived alike
    assert table.output.count("kappa") == 1
    assert "parent codes derived the same way for every coder" in table.output
    assert report["hierarchy"] == "derived"
    assert report["model_vs_gold"]["hierarchy"] == report["human_vs_human"]["hierarchy"]


def test_evaluate_refuses_unknown_gold_codes(tiny_model, tmp_path):
    a = tmp_path / "ana.csv"
    write_coder(a, "ana", [("text", "npt.made_up")])
    result = runner.invoke(app, ["evaluate", str(a), "--model", str(tiny_model)])
    assert result.exit_code == 2 and "npt.made_up" in result.output
