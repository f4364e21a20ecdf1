"""The commented sample settings shipped in the package, as `vsphere-dr init-config PATH` writes it."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def sample_text() -> str:
    return (resources.files("vsphere_dr") / "data" / "settings.sample.ini").read_text(encoding="utf-8")


def write_sample(path: Path, force: bool = False) -> None:
    """Write the sample to ``path``; FileExistsError if it exists and not ``force``. Not readable by others:
    the file is where a password may go."""
    with open(path, "w" if force else "x", encoding="utf-8", opener=_private) as handle:
        handle.write(sample_text())


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o640)
