"""Scratch folders for files being read (uploads), under ``PRECODE_HOME/tmp`` rather than the
system's temporary folder: they hold transcript text, so what a crash leaves behind is found
and removed when a server starts, not left for anyone to read."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "precode-"


def scratch_root(home: Path) -> Path:
    root = Path(home) / "tmp"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def scratch(home: Path, kind: str) -> tempfile.TemporaryDirectory:
    """A folder removed when the ``with`` block ends; its name says which process made it."""
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}{kind}-{os.getpid()}-",
                                       dir=scratch_root(home))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_scratch(home: Path) -> int:
    """Remove the scratch folders of processes that are gone (a crash, a kill); those of
    running processes (other server workers) stay. Returns how many were removed."""
    removed = 0
    for path in scratch_root(home).glob(f"{PREFIX}*"):
        parts = path.name.split("-")
        pid = int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None
        if pid is not None and pid != os.getpid() and _alive(pid):
            continue
        if pid == os.getpid():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed
