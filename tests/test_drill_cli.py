"""The drill commands' wiring without a vCenter: the drill lock, the clean-up at the start of
`run` and `once`, `drills` on an empty or unknown report, and the exit codes."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from modules.inventory_administrator import InventoryAdministrator
from tests.fake_vcenter import FakeVCenter
from tests.recovery_lab import lab
from vsphere_dr import drill_marks
from vsphere_dr.app import cli
from vsphere_dr.app.daemon import LEFTOVERS, Daemon
from vsphere_dr.app.drill import clean_up_after_drills, drill_lock
from vsphere_dr.app.module_registry import PAUSABLE
from vsphere_dr.app.systemd_notify import Notifier
from vsphere_dr.journal import Journal
from vsphere_dr.settings import load_settings


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


class Connect:
    """The clean-up's vCenter: the fake's gateway, counting the connections made."""

    def __init__(self, vc: FakeVCenter) -> None:
        self.vc, self.made = vc, 0

    def __call__(self, _settings: object) -> nullcontext[object]:
        self.made += 1
        return nullcontext(self.vc.gateway)


def drill_copies(vc: FakeVCenter) -> list[str]:
    """The VMs with any of a drill copy's marks (a copy a person renamed still counts)."""
    return [v.moref for v in vc.vms.values()
            if v.name.startswith("vsphere-dr-drill") or drill_marks.EXTRA_KEY in v.extra or "drill copy" in v.annotation]


def test_run_s_check_removes_a_drill_killed_while_it_serves_never_one_that_runs(config: Path) -> None:
    """`run`'s check at every sweep interval: while the drill's process holds the drill lock its
    copy is not touched (not even read); once the process is gone the copy is removed, its VM
    untouched, the drill journaled as interrupted; then nothing is left to do."""
    vc, admin = lab(), InventoryAdministrator(config, PAUSABLE)
    drill = killed_drill(vc, admin.settings.journal.path)
    original = vars(vc.vms["vm-1"]).copy()
    connect, lock = Connect(vc), drill_lock(admin.settings)
    lock.acquire("vsphere-dr drill --vm web-01")  # the drill's process, alive
    changes = len(vc.changes)
    try:
        for _sweep in range(3):
            clean_up_after_drills(admin, connect, serving=True)  # type: ignore[arg-type]
    finally:
        lock.release()  # the process died: the kernel released its flock
    assert len(drill_copies(vc)) == 1 and connect.made == 0 and len(vc.changes) == changes
    clean_up_after_drills(admin, connect, serving=True)  # type: ignore[arg-type]
    assert drill_copies(vc) == [] and vars(vc.vms["vm-1"]) == original
    journal = Journal(admin.settings.journal.path)
    row = journal.drill(drill)
    assert row is not None and (row.state, row.cleaned) == ("failed", 1)
    assert row.error == "interrupted after step powered_on; its copy was removed by the clean-up of interrupted drills"
    assert journal.drill_runs()[-1].outcome == "interrupted" and not journal.drills_unfinished()
    clean_up_after_drills(admin, connect, serving=True)  # type: ignore[arg-type]
    assert connect.made == 1, "nothing unfinished: no vCenter session"


def test_run_s_check_removes_a_copy_whose_clone_finished_after_the_drill_was_cleaned_up(config: Path) -> None:
    """A drill killed during its clone: the clean-up found no copy and closed the drill; the clone
    then finished in vCenter. `run`'s check sees the marked copy in its newest inventory and removes
    it; without that inventory (nothing unfinished in the journal) it reads nothing."""
    vc, admin = lab(), InventoryAdministrator(config, PAUSABLE)
    drill = killed_drill(vc, admin.settings.journal.path)
    journal = Journal(admin.settings.journal.path)
    journal.update_drill(drill, copy=None, cleaned=1, state="failed")  # closed before the clone finished
    connect = Connect(vc)
    for _sweep in range(2):  # the first closes the drill's run (interrupted); neither finds the copy
        clean_up_after_drills(admin, connect, serving=True)  # type: ignore[arg-type]
    assert connect.made == 1 and len(drill_copies(vc)) == 1 and not journal.drills_unfinished()
    clean_up_after_drills(admin, connect, serving=True, seen=vc.gateway.inventory())  # type: ignore[arg-type]
    assert drill_copies(vc) == [] and vc.vms["vm-1"].power_state == "poweredOn"
    clean_up_after_drills(admin, connect, serving=True, seen=vc.gateway.inventory())  # type: ignore[arg-type]
    assert connect.made == 2, "no marked copy left: no vCenter session"


@pytest.mark.parametrize("lost", ["name", "annotation", "extraConfig"])
def test_a_copy_without_all_three_marks_is_left_and_the_journal_says_why(
        config: Path, lost: str, caplog: pytest.LogCaptureFixture) -> None:
    """A person renamed the copy, or edited its notes or its extraConfig: `run`'s check reads it
    again, finds a mark missing, and neither powers it off nor deletes it; the journal says why,
    the log says it once (not at every sweep interval), and it is tried again."""
    vc, admin = lab(), InventoryAdministrator(config, PAUSABLE)
    drill = killed_drill(vc, admin.settings.journal.path)
    (moref,) = drill_copies(vc)
    copy = vc.vms[moref]
    if lost == "name":
        copy.name = "web-01-test"
    elif lost == "annotation":
        copy.annotation = "kept by a person"
    else:
        copy.extra = {}
    for _sweep in range(3):
        clean_up_after_drills(admin, Connect(vc), serving=True)  # type: ignore[arg-type]
    assert moref in vc.vms and copy.power_state == "poweredOn"
    row = Journal(admin.settings.journal.path).drill(drill)
    assert row is not None and (row.state, row.cleaned) == ("failed", 0)
    assert row.error.startswith(f"interrupted after step powered_on; its copy {row.copy_name} ({moref}) was not "
                                f"removed: not powering off or deleting {moref}: ")
    assert {"name": "drill prefix", "annotation": "no annotation", "extraConfig": "no extraConfig"}[lost] in row.error
    assert [r.levelname for r in caplog.records if "not removed" in r.getMessage()] == ["ERROR"]


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


def test_run_s_clean_up_is_a_job_at_the_sweep_interval_that_follows_its_edits(
        write_settings, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """The clean-up runs beside the modules every [monitoring] interval_seconds, follows an edit
    of it without a restart, and a defect in it is logged, never ending `run`."""
    settings = load_settings(write_settings(monitoring={"interval_seconds": 10}))
    controller = SimpleNamespace(settings=lambda: settings, inventory_admin=SimpleNamespace(on_change=lambda _l: None),
                                 stop=threading.Event())

    def broken() -> None:
        raise RuntimeError("a defect")

    daemon = Daemon(controller, Notifier({}), broken)  # type: ignore[arg-type]
    daemon._schedule_jobs()
    assert daemon.scheduler.get_job(LEFTOVERS).trigger.interval == timedelta(seconds=10)
    edited = settings.model_copy(update={"monitoring": settings.monitoring.model_copy(update={"interval_seconds": 4})})
    daemon._reschedule(settings, edited)
    assert daemon.scheduler.get_job(LEFTOVERS).trigger.interval == timedelta(seconds=4)
    daemon._leftovers_job()
    assert "leftovers failed: RuntimeError: a defect" in caplog.text
