"""The controller's bookkeeping of module runs, without vCenter: a module that raises anything is
recorded failed with a one-line message, and `status` and `once` say so."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from modules.inventory_administrator import InventoryAdministrator
from vsphere_dr.app import cli
from vsphere_dr.app.controller import Controller
from vsphere_dr.app.module_registry import MODULES, PAUSABLE, schedules
from vsphere_dr.app.status import status_text
from vsphere_dr.errors import VSphereFault


class Broken:
    name = "snapshot_creator"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def run(self) -> None:
        raise self.error


@pytest.fixture
def controller(write_settings) -> Controller:  # type: ignore[no-untyped-def]
    ctl = Controller(InventoryAdministrator(write_settings(), PAUSABLE))
    yield ctl
    ctl.close()


def test_the_controller_runs_exactly_the_registrys_modules(controller: Controller) -> None:
    assert tuple(controller.modules) == MODULES
    assert set(schedules(controller.settings())) == set(MODULES) - {"ping_alarm_administrator"}


@pytest.mark.parametrize("error, text", [
    (ZeroDivisionError("division by zero"), "ZeroDivisionError: division by zero"),
    (VSphereFault("vCenter fault NoPermission while creating a snapshot", "NoPermission"),
     "vCenter fault NoPermission while creating a snapshot"),
])
def test_a_module_that_raises_is_recorded_failed_not_running(controller: Controller, error: Exception, text: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    controller.modules["snapshot_creator"] = Broken(error)  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR):
        assert controller.run_module("snapshot_creator") is error
    run = controller.journal.runs()["snapshot_creator"]
    assert (run.outcome, run.message) == ("failed", text)
    assert "Traceback" not in caplog.text and f"snapshot_creator failed: {text}" in caplog.text
    line = next(l for l in status_text(controller.journal, schedules(controller.settings())).splitlines()
                if l.strip().startswith("snapshot_creator "))
    assert "failed" in line


def test_once_of_a_module_with_a_defect_exits_1_with_one_line(write_settings, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path: Path = write_settings()

    def broken_run(self: Controller, name: str) -> Exception:
        return ZeroDivisionError("division by zero")

    monkeypatch.setattr(Controller, "run_module", broken_run)
    assert cli.main(["--config", str(path), "once", "--module", "snapshot_creator"]) == cli.EXIT_FAULT
    err = capsys.readouterr().err
    assert err.strip() == "vsphere-dr: error: snapshot_creator failed: ZeroDivisionError: division by zero"


def test_version_and_a_reader_that_leaves_early(write_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    version = subprocess.run([sys.executable, "-m", "vsphere_dr.app", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("vsphere-dr 0.")
    path = write_settings()
    journal = tmp_path / "journal.sqlite"
    from vsphere_dr.journal import Journal
    j = Journal(journal)
    for n in range(3000):
        j.open_incident(f"vm-{n}", f"vm-{n}", "test", 0.0)
    j.close()
    piped = subprocess.run(f"{sys.executable} -m vsphere_dr.app --config {path} incidents | head -1",
                           shell=True, capture_output=True, text=True)
    assert "Traceback" not in piped.stderr and "BrokenPipeError" not in piped.stderr, piped.stderr


def test_the_freshest_inventory_is_the_watchers_picture_under_run(controller: Controller) -> None:
    """What `run`'s drill clean-up looks at: the watcher's picture (a removed copy leaves it at once),
    the newest whole read only while there is none."""
    picture = object()
    controller.health.live = SimpleNamespace(inventory=lambda: picture)  # type: ignore[assignment]
    assert controller.freshest_inventory() is picture
    controller.health.live = SimpleNamespace(inventory=lambda: None)  # type: ignore[assignment]
    assert controller.freshest_inventory() is None, "no whole read yet, no picture: nothing to look at"
    whole = SimpleNamespace(read_at=1.0)
    controller.gateway.last_inventory = whole  # type: ignore[assignment]
    assert controller.freshest_inventory() is whole, "the watcher lost vCenter: the newest whole read"
