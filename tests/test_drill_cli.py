"""The drill commands' wiring without a vCenter: the drill lock, the clean-up at the start of
`run` and `once`, `drills` on an empty or unknown report, and the exit codes."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import pytest

from modules.inventory_administrator import InventoryAdministrator
from tests.fake_vcenter import FakeVCenter
from tests.recovery_lab import lab
from vsphere_dr import drill_marks
from vsphere_dr.app import cli
from vsphere_dr.app.drill import clean_up_after_drills, drill_lock
from vsphere_dr.app.module_registry import PAUSABLE
from vsphere_dr.journal import Journal


@pytest.fixture
def config(write_settings) -> Path:  # type: ignore[no-untyped-def]
    return write_settings(replication={"hosts": "esx-2", "datastores": "ds-shared"})  # type: ignore[no-any-return]


def killed_drill(vc: FakeVCenter, journal: Path) -> int:
    """A drill whose process died with its copy of web-01 running."""
    j = Journal(journal)
    token = drill_marks.new_token()
    run = j.start_drill_run("vsphere-dr drill --vm web-01")
    drill = j.intend_drill(run, "vm-1", "web-01", prefix="vsphere-dr-drill", copy_name="vsphere-dr-drill-web-01-x",
                           token=token, step="powered_on")
    copy = vc.gateway.vms.clone_for_drill("vm-1", None, "vsphere-dr-drill-web-01-x", "host-2", "resgroup-domain-c1",
                                          "ds-shared", drill_marks.annotation("web-01", drill, token),
                                          drill_marks.extra_value(drill, token), None)
    vc.gateway.vms.power_on(copy)
    j.update_drill(drill, copy=copy)
    j.close()
    return drill


def test_run_and_once_remove_a_killed_drill_s_copy_unless_a_drill_is_running(config: Path) -> None:
    vc, admin = lab(), InventoryAdministrator(config, PAUSABLE)
    drill = killed_drill(vc, admin.settings.journal.path)
    lock = drill_lock(admin.settings)
    lock.acquire("vsphere-dr drill --vm db-01")  # another drill runs: its copies are its own
    try:
        clean_up_after_drills(admin, lambda _s: nullcontext(vc.gateway))  # type: ignore[arg-type,return-value]
    finally:
        lock.release()
    assert len([v for v in vc.vms.values() if v.name.startswith("vsphere-dr-drill")]) == 1
    clean_up_after_drills(admin, lambda _s: nullcontext(vc.gateway))  # type: ignore[arg-type,return-value]
    assert not [v for v in vc.vms.values() if v.name.startswith("vsphere-dr-drill")]
    row = Journal(admin.settings.journal.path).drill(drill)
    assert row is not None and (row.state, row.cleaned) == ("failed", 1)


def test_an_unreachable_vcenter_never_stops_run_or_once(config: Path, caplog: pytest.LogCaptureFixture) -> None:
    admin = InventoryAdministrator(config, PAUSABLE)
    killed_drill(lab(), admin.settings.journal.path)
    clean_up_after_drills(admin)  # settings name 127.0.0.1:9: nothing answers
    assert "tried again at the next start" in caplog.text


def test_a_second_drill_exits_4_and_does_nothing(config: Path, capfd: pytest.CaptureFixture[str]) -> None:
    admin = InventoryAdministrator(config, PAUSABLE)
    lock = drill_lock(admin.settings)
    lock.acquire("vsphere-dr drill --all")
    try:
        assert cli.main(["--config", str(config), "drill", "--all"]) == cli.EXIT_BUSY
    finally:
        lock.release()
    assert "(vsphere-dr drill --all). This drill does nothing and exits 4" in capfd.readouterr().err


def test_drills_without_reports(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--config", str(config), "drills"]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == "no drills yet"
    assert cli.main(["--config", str(config), "drills", "--id", "7"]) == cli.EXIT_SETTINGS
    assert "no drill 7" in capsys.readouterr().err
    assert cli.main(["--config", str(config), "drills", "--json"]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == "[]"
