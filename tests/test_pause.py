"""[scheduler] paused: validated against the CLI's modules, honoured by `once` and `status`.

None of these needs vCenter: the settings point at a port where nothing listens, so a command
that tried to reach it would exit 3 instead of 0.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vsphere_dr.app.module_registry import MODULES, PAUSABLE
from vsphere_dr.errors import SettingsError
from vsphere_dr.settings import load_settings


def vsphere_dr(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vsphere_dr.app", "--config", str(settings), *args],
                          capture_output=True, text=True, timeout=60)


def test_every_module_but_the_settings_reload_can_be_paused() -> None:
    assert set(PAUSABLE) == set(MODULES) - {"inventory_administrator"}


def test_paused_modules_are_read(write_settings) -> None:  # type: ignore[no-untyped-def]
    path = write_settings(scheduler={"paused": "snapshot_creator,\n  snapshot_creator_vhost"})
    assert load_settings(path, PAUSABLE).scheduler.paused == ["snapshot_creator", "snapshot_creator_vhost"]
    assert load_settings(write_settings()).scheduler.paused == []


@pytest.mark.parametrize("name", ["snapshot_creater", "inventory_administrator"])
def test_a_module_that_cannot_be_paused_is_refused(write_settings, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError) as refused:
        load_settings(write_settings(scheduler={"paused": name}), PAUSABLE)
    assert f"[scheduler] paused = '{name}': {name}: not a module that can be paused" in str(refused.value)


def test_the_cli_validates_paused(write_settings) -> None:  # type: ignore[no-untyped-def]
    result = vsphere_dr(write_settings(scheduler={"paused": "snapshot_creater"}), "status")
    assert result.returncode == 2 and "not a module that can be paused" in result.stderr


def test_once_skips_a_paused_module_without_touching_vcenter(write_settings) -> None:  # type: ignore[no-untyped-def]
    settings = write_settings(scheduler={"paused": "snapshot_creator"})
    result = vsphere_dr(settings, "once", "--module", "snapshot_creator")
    assert result.returncode == 0, result.stderr
    assert "snapshot_creator is paused" in result.stderr and "not run" in result.stderr
    assert vsphere_dr(settings, "once", "--module", "snapshot_creator_vhost").returncode == 3  # not paused: tries


def test_status_shows_paused_modules(write_settings) -> None:  # type: ignore[no-untyped-def]
    result = vsphere_dr(write_settings(scheduler={"paused": "snapshot_creator"}), "status")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.split()}
    assert "paused" in rows["snapshot_creator"].split()
    assert "paused" not in rows["snapshot_creator_vhost"].split()
