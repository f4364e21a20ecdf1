"""Inventory Administrator: reads settings.ini and picks up edits while the controller runs.

The paper's Inventory Administrator re-reads vCenter URL, credentials and intervals so that a
change takes effect without a restart. An edit is noticed by the file's mtime (and size); an
edit that does not validate is logged with the reason and the last good settings stay in force.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection
from pathlib import Path

from vsphere_dr.errors import SettingsError
from vsphere_dr.settings import Settings, load_settings

log = logging.getLogger(__name__)
Listener = Callable[[Settings, Settings], None]


class InventoryAdministrator:
    """Holds the settings in force and reloads them when settings.ini changes."""

    def __init__(self, path: Path, pausable: Collection[str] | None = None) -> None:
        """``pausable``: the modules ``[scheduler] paused`` may name (see load_settings)."""
        self.path = path
        self._pausable = pausable
        self._stamp = self._file_stamp()
        self.settings = load_settings(path, pausable)  # the first read must succeed: nothing to fall back on
        self._listeners: list[Listener] = []

    def on_change(self, listener: Listener) -> None:
        """Call ``listener(old, new)`` after every successful reload that changed something."""
        self._listeners.append(listener)

    def refresh(self) -> bool:
        """Reload if the file changed; return True when new settings took effect."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            new = load_settings(self.path, self._pausable)
        except SettingsError as exc:
            log.error("settings edit rejected, keeping the last good settings: %s", exc)
            return False
        old, self.settings = self.settings, new
        if new == old:
            return False
        log.info("settings reloaded from %s", self.path)
        for listener in self._listeners:
            listener(old, new)
        return True

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size
