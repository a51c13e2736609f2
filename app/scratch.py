"""Per-process scratch directories that a killed process does not leave behind for ever.

A directory is named `<prefix>-<pid>-<random>`; an `atexit` hook removes it on a clean exit,
and the next process to make one of the same prefix removes those whose process is gone
(SIGKILL and OOM kills run no hook)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_leftovers(parent: Path, prefix: str) -> list[Path]:
    """Remove `parent/<prefix>-<pid>-*` directories whose process is gone; return them."""
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(f"{prefix}-") or not entry.is_dir():
            continue
        pid = name[len(prefix) + 1 :].partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def scratch_dir(prefix: str, parent: Path | None = None) -> Path:
    """A new directory for this process, removed at exit; leftovers of dead ones swept first."""
    base = parent or Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(base, prefix)
    directory = Path(tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-", dir=base))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory
