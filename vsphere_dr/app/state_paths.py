"""The files vsphere-dr writes (journal, health models and their history directory, metrics
textfile, log), checked before a command relies on them.

An unwritable one used to be a Python traceback at the first write (or, under systemd, a restart
every 30 s) while `check-config` called the settings valid. Each is probed as the controller will
use it: an existing file opened for appending (nothing written), its directory by creating and
removing a temporary file there (SQLite's -wal and -shm files and the models' atomic rename need
it), and a missing directory through its nearest existing parent, which must let it be created.
Nothing is created here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vsphere_dr.errors import SettingsError
from vsphere_dr.health_history import history_dir
from vsphere_dr.settings import Settings

HISTORY = "[health] model_path's history directory"  # the models' ring files (health_history.py)


def state_files(settings: Settings, journal: bool = True) -> dict[str, Path]:
    """What each file is (as the settings name it) -> its path; the textfile and the log only if set.
    ``journal=False``: only the log (for the commands that touch no journal)."""
    models = settings.health.model_file(settings.journal)
    files = {"[journal] path": settings.journal.path, "[health] model_path": models,
             HISTORY: history_dir(models)} if journal else {}
    if journal and settings.metrics.textfile is not None:
        files["[metrics] textfile"] = settings.metrics.textfile
    if settings.logging.file is not None:
        files["[logging] file"] = settings.logging.file
    return files


def check_writable(files: dict[str, Path]) -> None:
    """Raise SettingsError naming every file that cannot be written, and why."""
    problems = [f"{what} = {path}: {why}" for what, path in files.items()
                if (why := (why_dir_not_writable if what == HISTORY else why_not_writable)(path))]
    if problems:
        raise SettingsError("cannot write the files vsphere-dr keeps (change the setting, or the "
                            "directory's owner or mode):\n  " + "\n  ".join(problems))


def why_not_writable(path: Path) -> str | None:
    """Why ``path`` could not be written by this process, or None if it can."""
    if path.is_dir():
        return "is a directory"
    if path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            return f"the file exists but cannot be written: {exc.strerror}"
    existing = next(parent for parent in path.parents if parent.exists())
    if not existing.is_dir():
        return f"{existing} is not a directory"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        missing = "" if existing == path.parent else f" (to create {path.parent})"
        return f"cannot create files in {existing}{missing}: {exc.strerror}"
    return None


def why_dir_not_writable(directory: Path) -> str | None:
    """Why files could not be created in ``directory`` (or it be created), or None if they can."""
    if directory.exists() and not directory.is_dir():
        return "is not a directory"
    return why_not_writable(directory / "probe")
