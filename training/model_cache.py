"""A cache of trained models shared by every home folder on a machine.

Each entry is a model directory named by a key (a hash of everything that decides the model). It
is built once: under a file lock, into a temporary folder that is renamed into place when it is
complete, so that a reader never sees half a model and two processes never train the same entry;
the second one waits (hearing how far the first has got) and then uses the first's. Every build is
noted in ``builds.jsonl``.

An entry is never modified once built: its files are made read-only, and a home gets its own
directory of hard links to them (a copy where the cache lies on another file system). A home's
model directory may be replaced or deleted (a model directory is always written whole into a new
folder, never in place), which leaves the cache's entry as it was.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

BUILD_LOG = "builds.jsonl"

# what the wait or the build has reached: a status line and the share done (None: unknown)
Report = Callable[[str, float | None], None]
# builds a model directory at the given path, reporting the share done (0 to 1) as it goes
Build = Callable[[Path, Callable[[float], None]], object]


class BuildCancelled(Exception):
    """Raised inside a build or a wait when the caller asked it to stop."""


class ModelCache:
    """Model directories built once per machine, under ``root``, one per key."""

    def __init__(self, root: str | Path, *, what: str = "the model", poll_seconds: float = 0.2):
        self.root = Path(root)
        self.what = what
        self.poll_seconds = poll_seconds

    def entry(self, key: str) -> Path:
        return self.root / key

    def builds(self) -> list[dict]:
        """Every build this cache has seen, oldest first (key, when, seconds, process)."""
        try:
            lines = (self.root / BUILD_LOG).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def ensure(self, key: str, build: Build, *, force: bool = False, report: Report | None = None,
               stop: Callable[[], bool] | None = None) -> Path:
        """The entry for ``key``, built first when it is not there (or ``force``).

        ``report`` hears what is going on (waiting for another process's build, building) and the
        share done; ``stop``, checked while waiting and at each step of a build, ends either with
        ``BuildCancelled`` (a half-built entry is never left in place)."""
        entry = self.entry(key)
        if is_model_dir(entry) and not force:
            return entry
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock(key, report, stop):
            if is_model_dir(entry) and not force:
                return entry
            for stale in self.root.glob(f".{key}.*"):  # left by a build that was killed
                if stale.name != f".{key}.lock":
                    _remove(stale)
            tmp = self.root / f".{key}.building-{os.getpid()}"
            progress_file = self.root / f".{key}.progress"

            def step(share: float) -> None:
                if stop is not None and stop():
                    raise BuildCancelled(f"building {self.what} was stopped")
                _write_json(progress_file, {"progress": share})
                if report is not None:
                    report(f"building {self.what}", share)

            started = time.monotonic()
            try:
                step(0.0)
                build(tmp, step)
                if not is_model_dir(tmp):
                    raise RuntimeError(f"building {self.what} wrote no model directory")
                if report is not None:
                    report(f"building {self.what}", 1.0)
                _make_read_only(tmp)
                if entry.exists():  # force: the old entry goes once the new one is complete
                    old = self.root / f".{key}.old-{os.getpid()}"
                    entry.rename(old)
                    tmp.rename(entry)
                    _remove(old)
                else:
                    tmp.rename(entry)
            finally:
                _remove(tmp)
                _remove(tmp.with_name(tmp.name + ".part"))
                progress_file.unlink(missing_ok=True)
            with open(self.root / BUILD_LOG, "a", encoding="utf-8") as log:
                log.write(json.dumps({"key": key, "built_at": datetime.now(UTC).isoformat(
                    timespec="seconds"), "seconds": round(time.monotonic() - started, 1),
                    "pid": os.getpid()}) + "\n")
            return entry

    @contextmanager
    def _lock(self, key: str, report: Report | None, stop: Callable[[], bool] | None
              ) -> Iterator[None]:
        """Hold the entry's lock; while another process holds it, report its progress."""
        with open(self.root / f".{key}.lock", "w") as lock:
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                if stop is not None and stop():
                    raise BuildCancelled(f"waiting for {self.what} was stopped")
                if report is not None:
                    share = _read_json(self.root / f".{key}.progress").get("progress")
                    report(f"waiting for another process building {self.what}", share)
                time.sleep(self.poll_seconds)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def install(entry: Path, target: Path) -> Path:
    """``target`` made a model directory of its own holding ``entry``'s files: hard links, or
    copies where a link cannot be made (another file system). Written whole or not at all; when
    another process installs the same target at the same time, the first one's stays."""
    target = Path(target)
    if is_model_dir(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.installing-{os.getpid()}-{threading.get_ident()}")
    _remove(tmp)
    try:
        shutil.copytree(entry, tmp, copy_function=_link_or_copy)
        if target.exists() and not is_model_dir(target):
            _remove(target)  # an unfinished directory from before
        try:
            tmp.rename(target)
        except OSError:
            if not is_model_dir(target):
                raise
    finally:
        _remove(tmp)
    return target


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _make_read_only(folder: Path) -> None:
    """Every file under ``folder`` read-only (folders stay writable, so that a user can still
    delete the cache with ``rm -r``)."""
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            mode = path.stat().st_mode
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


def is_model_dir(path: Path) -> bool:
    """``models.suggester.is_model_dir``, imported when first needed (``precode serve`` reads
    the built-in model's settings, and so imports this module, before its port is bound)."""
    from models.suggester import is_model_dir as complete

    return complete(path)
