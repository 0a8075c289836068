"""Quick probes of what a frozen encoder carries about NPT constructs in real interview quotes.

    python -m eval.bench.npt_probe [--encoder DIR] [--out eval/results/npt_probe.md]

Every probe learns the construct (four classes, coded excerpts only) from each choice of seed
corpus parts with the encoder frozen, and is scored on ``npt_quotes_dev`` like the quality
benchmark (construct kappa, top-2). Probes: logistic regression, nearest class centroid, 20
nearest neighbours; each also with the main between-scenario directions projected out (so that
the setting and intervention cannot decide the construct) and with every study centred on its own
mean (the seed scenarios, and the quotes' source papers, as a project's segments would be).
Minutes, not the hour of the full benchmark: a way to try an encoder or a corpus before training.

A second table probes the anchor utterances (``corpus/seed/anchors/``): short prototypes with no
setting or intervention, 30 for each NPT sub-code. Each quote's score for a construct is its
highest cosine similarity to that construct's anchors, or the mean of the five highest, or a
logistic regression learnt on the anchors alone; each also with every study centred (scores
centred for the pooled similarities, embeddings for the regression).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from corpus.seed_corpus import SEED_PARTS, load_anchors, load_seed, seed_codebook
from eval.agreement import cohen_kappa
from eval.bench.datasets import NPT_CONSTRUCTS, NPT_EXPERT, load_npt_quotes
from models.encoder import encode, load_encoder

PART_CHOICES = (("v1",), ("v2",), ("v1", "v2"))


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def _scores(name: str, train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    if name == "logistic regression":
        return LogisticRegression(C=0.5, max_iter=3000).fit(train, labels).predict_proba(test)
    if name == "centroid":
        return _unit(test) @ _unit(np.stack([train[labels == c].mean(0) for c in range(4)])).T
    sims = _unit(test) @ _unit(train).T
    out = np.zeros((len(test), 4))
    for i, row in enumerate(np.argsort(-sims, axis=1)[:, :20]):
        np.add.at(out[i], labels[row], sims[i, row])
    return out


def _topic_out(x: np.ndarray, groups: np.ndarray, k: int = 40) -> np.ndarray:
    centroids = np.stack([x[groups == g].mean(0) for g in sorted(set(groups))])
    _, _, vt = np.linalg.svd(centroids - centroids.mean(0), full_matrices=False)
    return vt[: min(k, len(vt))]


def _centre(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    out = x.copy()
    for g in set(groups):
        out[groups == g] -= x[groups == g].mean(0)
    return out


def _construct(book, codes) -> int:
    return next((NPT_CONSTRUCTS.index(book.ancestors(c)[-1]) for c in codes
                 if book.ancestors(c) and book.ancestors(c)[-1] in NPT_CONSTRUCTS), -1)


def _row(truth, s: np.ndarray, **labels) -> dict:
    order = np.argsort(-s, axis=1)
    return {**labels, "kappa": cohen_kappa(truth, order[:, 0].tolist()).value,
            "top2": float(np.mean([truth[i] in order[i, :2] for i in range(len(truth))]))}


def _pooled(sims: np.ndarray, labels: np.ndarray, how: str) -> np.ndarray:
    out = np.zeros((len(sims), 4))
    for c in range(4):
        block = sims[:, labels == c]
        out[:, c] = block.max(1) if how == "highest" else np.sort(block, 1)[:, -5:].mean(1)
    return out


def anchor_probe(encoder, book, x_quotes: np.ndarray, truth: list[int], studies: np.ndarray
                 ) -> list[dict]:
    anchors = [a for a in load_anchors(book) if _construct(book, a.codes) >= 0]
    labels = np.array([_construct(book, a.codes) for a in anchors])
    x = encode(encoder, [a.text for a in anchors], batch_size=64)
    rows = []
    for how in ("highest", "mean of top 5"):
        s = _pooled(_unit(x_quotes) @ _unit(x).T, labels, how)
        rows.append(_row(truth, s, probe=f"similarity, {how}", view="as is"))
        rows.append(_row(truth, _centre(s, studies), probe=f"similarity, {how}",
                         view="each study centred"))
    lr = LogisticRegression(C=0.5, max_iter=3000)
    rows.append(_row(truth, lr.fit(x, labels).predict_proba(x_quotes), probe="logistic regression",
                     view="as is"))
    rows.append(_row(truth, lr.fit(x - x.mean(0), labels).predict_proba(_centre(x_quotes, studies)),
                     probe="logistic regression", view="each study centred"))
    return rows


def probe(encoder_dir: str | None = None, log=print) -> dict:
    book = seed_codebook()
    seed = [ex for ex in load_seed(book, parts=SEED_PARTS) if ex.meta.get("speaker_role")
            != "interviewer"]
    quotes = load_npt_quotes()
    truth = [NPT_CONSTRUCTS.index(q.codes[0]) for q in quotes]
    studies = np.array([q.meta["source"] for q in quotes])
    encoder = load_encoder(encoder_dir)
    log(f"encoding {len(seed)} seed excerpts and {len(quotes)} quotes")
    x_seed = encode(encoder, [ex.text for ex in seed], batch_size=64)
    x_quotes = encode(encoder, [q.text for q in quotes])
    construct = np.array([_construct(book, ex.codes) for ex in seed])
    scenario = np.array([ex.meta.get("scenario", "") for ex in seed])
    part = np.array([ex.meta["part"] for ex in seed])
    rows = []
    for parts in PART_CHOICES:
        keep = np.isin(part, parts) & (construct >= 0)
        x, y, g = x_seed[keep], construct[keep], scenario[keep]
        views = {"as is": (x, x_quotes)}
        v = _topic_out(x, g)
        views["scenario directions out"] = (x - (x @ v.T) @ v, x_quotes - (x_quotes @ v.T) @ v)
        views["each study centred"] = (_centre(x, g), _centre(x_quotes, studies))
        for view, (train, test) in views.items():
            for name in ("logistic regression", "centroid", "20 nearest"):
                rows.append(_row(truth, _scores(name, train, y, test), parts="+".join(parts),
                                 view=view, probe=name))
    return {"encoder": encoder_dir or "all-MiniLM-L6-v2 (built-in base)", "rows": rows,
            "anchors": anchor_probe(encoder, book, x_quotes, truth, studies),
            "n_quotes": len(quotes)}


def render(result: dict) -> str:
    lines = ["# Frozen-encoder probes on npt_quotes_dev", "",
             "Written by `python -m eval.bench.npt_probe`. Encoder: "
             f"{result['encoder']}. {result['n_quotes']} real quotes; chance kappa 0, chance "
             f"top-2 0.50; the blind expert reached kappa {NPT_EXPERT['kappa']} and top-2 "
             f"{NPT_EXPERT['top2']}.", "",
             "| seed parts | view | probe | kappa | top-2 |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['parts']} | {r['view']} | {r['probe']} | {r['kappa']:.3f} | "
                     f"{r['top2']:.2f} |")
    lines += ["", "## Anchor utterances", "",
              "Prototypes with no setting (`corpus/seed/anchors/`, 30 per NPT sub-code, 480 in "
              "all); the seed corpus is not used.", "",
              "| probe | view | kappa | top-2 |", "|---|---|---|---|"]
    for r in result.get("anchors", []):
        lines.append(f"| {r['probe']} | {r['view']} | {r['kappa']:.3f} | {r['top2']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", help="a sentence-transformers directory (default: built-in base)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parents[1] / "results" / "npt_probe.md")
    a = ap.parse_args(argv)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(render(probe(a.encoder)), encoding="utf-8")
    print(f"wrote {a.out}")
    return a.out


if __name__ == "__main__":
    main()
