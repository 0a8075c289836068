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


def test_features_are_those_of_scikit_learns_vectorizer(npt_integrating):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from corpus.seed_corpus import load_seed
    from models.lexical import VECTORIZER, tfidf_rows

    texts = [e.text for e in load_seed(npt_integrating)][:600]
    odd = ["", "a I", "Naïve café: the São Paulo clinic's re-audit, 2024/25 – 100% (!!)",
           "OK ok OK okay... [laughs] we-we did it", "x" * 300, "ΑΒΓ δε ζη and 日本語 text",
           "don't won't can't", "\t\nnew\nlines\tand tabs\u00a0nbsp"]
    vec = TfidfVectorizer(**VECTORIZER).fit(texts)
    vocab = {t: int(i) for t, i in vec.vocabulary_.items()}
    probe = texts[:200] + odd
    ours = tfidf_rows(probe, vocab, vec.idf_)
    theirs = vec.transform(probe).toarray()
    assert ours.shape == theirs.shape
    assert np.allclose(ours, theirs, atol=1e-6)
    assert not ours[len(texts[:200])].any()  # the empty text


def test_suggesting_does_not_import_scikit_learn(tiny_model, tmp_path):
    """Loading a model with a lexical head in use and suggesting leave scikit-learn unimported
    (it costs about a second at every start)."""
    import shutil
    import subprocess
    import sys

    from corpus.excerpts import multi_hot

    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    base = Suggester.load(model)
    y = multi_hot(base.index.exemplars, base.classes_)
    LexicalHead().fit([e.text for e in base.index.exemplars], y, base.classes_).save(
        model / "lexical")
    cal = json.loads((model / "thresholds.json").read_text())
    cal.update(blend_weight=0.5, lexical_weight=0.5)
    (model / "thresholds.json").write_text(json.dumps(cal))
    code = ("import sys; from models.suggester import Suggester; "
            f"m = Suggester.load({str(model)!r}); assert m.lexical is not None; "
            "r = m.suggest(['We were never told why the audit changed.'], all_scores=True); "
            "assert r[0].scores; print('sklearn' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "False"
