"""The machine's model cache: each entry built once (atomically, one build when two ask at once),
keyed by what decides the model, and shared by every home without any home changing it."""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from models.suggester import Suggester, is_model_dir
from training.args import TrainingArguments
from training.builtin import BUILTIN_ARGS, builtin_cache, builtin_key, ensure_builtin_model
from training.model_cache import BuildCancelled, ModelCache
from training.train import train_model

FROZEN = dict(epochs=0, heldout_share=0.3, seed=0)  # no fine-tuning: a build of a second or two
TUNED = dict(epochs=1, pairs_per_excerpt=1, max_pairs=16, batch_size=4, heldout_share=0.3, seed=0)


def tiny_build(excerpts, codebook, args=FROZEN, *, gate=None, reached=None):
    """A real (tiny) training run as the cache's build; with ``gate``, it stops once a third of
    the way through and waits for the gate (setting ``reached``)."""

    def build(out: Path, step):
        def progress(share: float) -> None:
            step(share)
            if gate is not None and share > 0.3 and not reached.is_set():
                reached.set()
                assert gate.wait(120)

        train_model(excerpts, codebook, out, args=TrainingArguments(**args), progress=False,
                    on_progress=progress)

    return build


def test_an_entry_is_built_once_and_read_only(tmp_path, tiny_excerpts, npt_integrating):
    cache = ModelCache(tmp_path / "cache")
    heard = []
    entry = cache.ensure("k1", tiny_build(tiny_excerpts, npt_integrating, TUNED),
                         report=lambda status, share: heard.append((status, share)))
    assert is_model_dir(entry) and entry == tmp_path / "cache" / "k1"
    # progress comes from the training loop's steps, rising to the end
    shares = [share for _, share in heard]
    assert shares == sorted(shares) and shares[0] == 0.0 and shares[-1] == 1.0
    assert len(set(shares)) > 4 and all(status == "building the model" for status, _ in heard)
    assert cache.ensure("k1", tiny_build(tiny_excerpts, npt_integrating)) == entry
    assert [b["key"] for b in cache.builds()] == ["k1"]
    files = [p for p in entry.rglob("*") if p.is_file()]
    assert files and not any(p.stat().st_mode & stat.S_IWUSR for p in files)
    # nothing half-built, no progress file left beside the entry
    assert sorted(p.name for p in cache.root.iterdir()) == [".k1.lock", "builds.jsonl", "k1"]


def test_another_key_builds_another_entry(tmp_path, tiny_excerpts, npt_integrating):
    cache = ModelCache(tmp_path / "cache")
    first = cache.ensure("a", tiny_build(tiny_excerpts, npt_integrating))
    second = cache.ensure("b", tiny_build(tiny_excerpts, npt_integrating))
    assert first != second and is_model_dir(first) and is_model_dir(second)
    assert [b["key"] for b in cache.builds()] == ["a", "b"]
    # the built-in model's key follows its training arguments (and its data and libraries)
    assert builtin_key(BUILTIN_ARGS) == builtin_key(replace(BUILTIN_ARGS))
    assert builtin_key(replace(BUILTIN_ARGS, epochs=0)) != builtin_key(BUILTIN_ARGS)
    assert builtin_key(replace(BUILTIN_ARGS, seed=1)) != builtin_key(BUILTIN_ARGS)


def test_two_builds_at_once_make_one_entry(tmp_path, tiny_excerpts, npt_integrating):
    """The second caller waits for the first (hearing its progress) and uses its entry. Each
    caller opens the lock file itself, so the two threads contend as two processes would."""
    cache = ModelCache(tmp_path / "cache", poll_seconds=0.05)
    gate, reached = threading.Event(), threading.Event()
    results, heard = {}, []
    first = threading.Thread(target=lambda: results.update(first=cache.ensure(
        "k", tiny_build(tiny_excerpts, npt_integrating, gate=gate, reached=reached))))
    first.start()
    assert reached.wait(120)
    second = threading.Thread(target=lambda: results.update(second=cache.ensure(
        "k", tiny_build(tiny_excerpts, npt_integrating),
        report=lambda status, share: heard.append((status, share)))))
    second.start()
    second.join(1.0)
    assert second.is_alive()  # it waits for the first build
    gate.set()
    first.join(120)
    second.join(120)
    assert results["first"] == results["second"] == cache.entry("k")
    assert len(cache.builds()) == 1
    waiting = [share for status, share in heard
               if status == "waiting for another process building the model"]
    assert waiting and all(share is not None and 0.3 < share < 1 for share in waiting)
    assert sorted(p.name for p in cache.root.iterdir()) == [".k.lock", "builds.jsonl", "k"]


def test_a_stopped_build_leaves_nothing(tmp_path, tiny_excerpts, npt_integrating):
    cache = ModelCache(tmp_path / "cache")
    checks = iter(range(1000))
    with pytest.raises(BuildCancelled):  # stopped at the third step of the training
        cache.ensure("k", tiny_build(tiny_excerpts, npt_integrating),
                     stop=lambda: next(checks) >= 2)
    assert sorted(p.name for p in cache.root.iterdir()) == [".k.lock"]
    assert cache.builds() == []


def test_homes_share_the_cached_builtin_model(tmp_path, tiny_excerpts, npt_integrating):
    """Two homes get the built-in model from one build in the cache, each as a directory of its
    own: replacing a home's model leaves the cache's as it was."""
    args = replace(BUILTIN_ARGS, **FROZEN)
    cache_dir = tmp_path / "cache"
    cache = builtin_cache(cache_dir)
    # the build the first home would have run, made here with tiny data
    entry = cache.ensure(builtin_key(args), tiny_build(tiny_excerpts, npt_integrating))
    homes = [tmp_path / "home1", tmp_path / "home2"]
    dirs = [ensure_builtin_model(home, cache=cache_dir, args=args, progress=False)
            for home in homes]
    assert len(cache.builds()) == 1
    for home, folder in zip(homes, dirs, strict=True):
        assert folder.parent == home / "models" and is_model_dir(folder)
        assert Suggester.load(folder).suggest(["We agreed what the clinic was for."])
        # the home's files are the cache's (hard links: no second copy on disk)
        assert (folder / "precode.json").stat().st_ino == (entry / "precode.json").stat().st_ino
    before = {p.relative_to(entry): p.read_bytes() for p in entry.rglob("*") if p.is_file()}
    # a home's model directory is written anew (as a refit or `train --builtin` does)
    model = Suggester.load(dirs[0])
    model.add_exemplars(["A new exemplar of the first home."], [model.manifest["classes"][:1]],
                        ["x1"])
    model.save(dirs[0])
    assert {p.relative_to(entry): p.read_bytes() for p in entry.rglob("*") if p.is_file()} == before
    assert len(Suggester.load(dirs[0]).index.exemplars) == len(
        Suggester.load(dirs[1]).index.exemplars) + 1
    # a file of a home cannot be written in place (it is the cache's)
    if os.geteuid() != 0:  # (root may write anything; the mode below still says read-only)
        with pytest.raises(PermissionError):
            (dirs[1] / "thresholds.json").write_text("{}")
    assert not (dirs[1] / "thresholds.json").stat().st_mode & stat.S_IWUSR


def test_a_forced_build_replaces_the_entry_and_leaves_homes_whole(tmp_path, tiny_excerpts,
                                                                   npt_integrating):
    """`precode train --builtin`: the entry is built anew and swapped in whole; a home made from
    the old one keeps every file."""
    args = replace(BUILTIN_ARGS, **FROZEN)
    cache = builtin_cache(tmp_path / "cache")
    old = cache.ensure(builtin_key(args), tiny_build(tiny_excerpts, npt_integrating))
    home = ensure_builtin_model(tmp_path / "home", cache=tmp_path / "cache", args=args,
                                progress=False)
    inode = (old / "index.faiss").stat().st_ino
    new = cache.ensure(builtin_key(args), tiny_build(tiny_excerpts, npt_integrating), force=True)
    assert new == old and (new / "index.faiss").stat().st_ino != inode
    assert len(cache.builds()) == 2
    assert (home / "index.faiss").stat().st_ino == inode and Suggester.load(home).suggest(["x"])
    assert sorted(p.name for p in cache.root.iterdir()) == [
        f".{builtin_key(args)}.lock", builtin_key(args), "builds.jsonl"]
