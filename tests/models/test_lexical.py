"""The TF-IDF head: learns wording, saves as numbers, reloads to the same probabilities."""

import json

import numpy as np

from models.lexical import LexicalHead
from models.suggester import Suggester

TEXTS = ["we counted the forms every month", "we counted the returned kits", "we swapped the "
         "clinic room for their slot", "we swapped our shifts with the ward", "lovely weather",
         "a rainy day in Leeds"]
Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 0], [0, 0]])


def test_learns_words_and_reloads_identically(tmp_path):
    head = LexicalHead().fit(TEXTS, Y, ["count", "swap"])
    probe = ["we counted them", "we swapped rooms"]
    p = head.predict_proba(probe)
    assert p[0, 0] > p[0, 1] and p[1, 1] > p[1, 0]
    head.save(tmp_path / "lexical")
    again = LexicalHead.load(tmp_path / "lexical")
    assert again.classes_ == ["count", "swap"]
    assert np.allclose(again.predict_proba(probe), p)
    assert json.loads((tmp_path / "lexical" / "vocabulary.json").read_text())


def test_suggester_uses_the_lexical_head_with_its_weight(tiny_model, tmp_path):
    import shutil

    from corpus.excerpts import multi_hot

    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    base = Suggester.load(model)
    texts = [e.text for e in base.index.exemplars]
    y = multi_hot(base.index.exemplars, base.classes_)
    LexicalHead().fit(texts, y, base.classes_).save(model / "lexical")
    cal = json.loads((model / "thresholds.json").read_text())
    cal.update(blend_weight=0.0, lexical_weight=1.0)
    (model / "thresholds.json").write_text(json.dumps(cal))
    lexical_only = Suggester.load(model)
    assert lexical_only.lexical is not None
    probe = ["I agreed to lend them two nurses in winter if they gave us the clinic room."]
    [a] = base.suggest(probe, all_scores=True)
    [b] = lexical_only.suggest(probe, all_scores=True)
    assert a.scores != b.scores
