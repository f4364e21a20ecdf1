"""Settings hot reload: an edit takes effect while running; a bad edit keeps the last good settings."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from modules.inventory_administrator import InventoryAdministrator
from vsphere_dr.errors import SettingsError
from vsphere_dr.settings import Settings


def edit(path: Path, old: str, new: str) -> None:
    """Change the file and move its mtime forward, as an editor saving it a second later would."""
    path.write_text(path.read_text().replace(old, new))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_edit_is_picked_up(write_settings) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(monitoring={"interval_seconds": 30})
    admin = InventoryAdministrator(path)
    seen: list[tuple[float, float]] = []
    admin.on_change(lambda old, new: seen.append((old.monitoring.interval_seconds, new.monitoring.interval_seconds)))
    assert admin.refresh() is False  # nothing changed yet
    edit(path, "interval_seconds = 30", "interval_seconds = 45")
    assert admin.refresh() is True
    assert admin.settings.monitoring.interval_seconds == 45
    assert seen == [(30, 45)]


def test_bad_edit_keeps_last_good_settings(write_settings, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(monitoring={"interval_seconds": 30})
    admin = InventoryAdministrator(path)
    good: Settings = admin.settings
    edit(path, "interval_seconds = 30", "interval_seconds = often")
    with caplog.at_level(logging.ERROR):
        assert admin.refresh() is False
    assert admin.settings is good
    assert "[monitoring] interval_seconds = 'often'" in caplog.text
    assert "keeping the last good settings" in caplog.text
    assert "test-password" not in caplog.text
    edit(path, "interval_seconds = often", "interval_seconds = 60")
    assert admin.refresh() is True and admin.settings.monitoring.interval_seconds == 60


def test_deleted_file_keeps_settings(write_settings, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    path = write_settings()
    admin = InventoryAdministrator(path)
    path.unlink()
    with caplog.at_level(logging.ERROR):
        assert admin.refresh() is False
    assert admin.settings.vcenter.host == "127.0.0.1"
    assert "cannot read settings file" in caplog.text


def test_first_read_must_succeed(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        InventoryAdministrator(tmp_path / "missing.ini")
