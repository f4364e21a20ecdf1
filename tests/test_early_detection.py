"""Detection without waiting for the next sweep: the watcher's handling of vCenter's updates, the
failure clock starting at vCenter's first evidence, and the sweep run early on evidence and again
while something is suspect. (On the simulator: test_watcher_live.py, test_daemon_live.py.)"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from pyVmomi import vim, vmodl

from modules.health_administrator import HealthSweep
from tests.recovery_lab import NOW, settings
from vsphere_dr.app.early_sweeps import EarlySweeps
from vsphere_dr.gateway.watcher import InventoryWatcher
from vsphere_dr.journal import ProbeState
from vsphere_dr.settings import Settings, VCenterSettings
from vsphere_dr.world import HostView, VmView, World

PC = vmodl.query.PropertyCollector


def change(name: str, val: Any, op: str = "assign") -> Any:
    return PC.Change(name=name, op=op, val=val)


def update_set(*updates: tuple[str, Any, list[Any]], truncated: bool = False, version: str = "2") -> Any:
    """An UpdateSet of (kind, managed object, changes) as WaitForUpdatesEx returns it."""
    objects = [PC.ObjectUpdate(kind=kind, obj=obj, changeSet=changes) for kind, obj, changes in updates]
    return PC.UpdateSet(version=version, truncated=truncated, filterSet=[PC.FilterUpdate(objectSet=objects)])


HOST, VM = vim.HostSystem("host-1"), vim.VirtualMachine("vm-1")
HOST_PROPS = [change("name", "esx-1"), change("runtime.connectionState", "connected")]
VM_PROPS = [change("name", "web-1"), change("runtime.powerState", "poweredOn"), change("runtime.host", HOST),
            change("guest.ipAddress", "127.0.0.5")]


@pytest.fixture
def watcher() -> Iterator[tuple[InventoryWatcher, list[str]]]:
    woken: list[str] = []
    clock = iter(range(int(NOW), int(NOW) + 1000))
    w = InventoryWatcher(VCenterSettings(host="vc.test", user="u", password="p"), woken.append,
                         clock=lambda: float(next(clock)))
    w._apply(update_set(("enter", HOST, HOST_PROPS), ("enter", VM, VM_PROPS), version="1"), initial=True)
    yield w, woken


def test_updates_change_only_their_objects_records(watcher: tuple[InventoryWatcher, list[str]]) -> None:
    w, _ = watcher
    before = w.inventory()
    assert before is not None and before.vms["vm-1"].power_state == "poweredOn"
    w._apply(update_set(("modify", VM, [change("runtime.powerState", "poweredOff")])))
    after = w.inventory()
    assert after is not None and after.vms["vm-1"].power_state == "poweredOff"
    assert after.hosts["host-1"] == before.hosts["host-1"]
    w._apply(update_set(("modify", VM, [change("guest.ipAddress", None)])))
    assert w.inventory().vms["vm-1"].ip is None, "an unset property is absent, as in a full read"
    w._apply(update_set(("leave", VM, [])))
    assert "vm-1" not in w.inventory().vms


def test_no_picture_when_vcenter_has_not_answered_for_longer_than_a_wait_and_a_timeout() -> None:
    now = [NOW]
    w = InventoryWatcher(VCenterSettings(host="vc.test", user="u", password="p", connect_timeout_seconds=10),
                         clock=lambda: now[0])
    w._apply(update_set(("enter", HOST, HOST_PROPS)), initial=True)
    now[0] += 19
    assert w.inventory() is not None
    now[0] += 2
    assert w.inventory() is None, "a sweep reads the inventory itself"


def test_a_truncated_update_is_not_a_consistent_picture(watcher: tuple[InventoryWatcher, list[str]]) -> None:
    w, _ = watcher
    assert w._apply(update_set(("modify", VM, [change("runtime.powerState", "poweredOff")]), truncated=True))
    assert w.inventory() is None, "a sweep reads it whole rather than use half an update"
    assert not w._apply(update_set(("modify", HOST, [change("runtime.inMaintenanceMode", True)])))
    assert w.inventory() is not None and w.inventory().hosts["host-1"].in_maintenance


def test_an_array_element_change_makes_the_object_be_read_again(watcher: tuple[InventoryWatcher, list[str]]) -> None:
    w, _ = watcher
    w._apply(update_set(("modify", VM, [change('triggeredAlarmState["alarm-1.vm-1"]', None, op="add")])))
    assert w._stale == {"vm-1"} and w.inventory() is None


def test_a_change_to_an_object_never_entered_makes_it_be_read(watcher: tuple[InventoryWatcher, list[str]]) -> None:
    w, _ = watcher
    w._apply(update_set(("modify", vim.VirtualMachine("vm-9"), [change("runtime.powerState", "poweredOn")])))
    assert "vm-9" in w._stale and w.inventory() is None


class LostVersion:
    """Service content whose collector has lost the version of every wait but the first."""

    def __init__(self) -> None:
        self.collectors = 0
        self.propertyCollector = self
        self.viewManager = self
        self.rootFolder = vim.Folder("group-d1")
        self.customFieldsManager = None

    def CreatePropertyCollector(self) -> LostVersion:  # noqa: N802 (pyVmomi's names)
        self.collectors += 1
        return self

    def CreateContainerView(self, *_args: Any) -> Any:  # noqa: N802
        return vim.view.ContainerView("view-1")

    def CreateFilter(self, *_args: Any, **_kwargs: Any) -> None:  # noqa: N802
        return None

    def WaitForUpdatesEx(self, version: str, _options: Any) -> Any:  # noqa: N802
        if version == "":
            return update_set(("enter", HOST, HOST_PROPS), version="1")
        raise vmodl.query.InvalidCollectorVersion()


def test_a_lost_version_reads_the_inventory_whole_again(monkeypatch: pytest.MonkeyPatch) -> None:
    w = InventoryWatcher(VCenterSettings(host="vc.test", user="u", password="p"))
    content = LostVersion()
    monkeypatch.setattr(w._session, "content", lambda: content)
    assert w.step() and w.full_reads == 1 and w.inventory() is not None
    assert not w.step(), "InvalidCollectorVersion"
    assert w.inventory() is None, "no picture until it is read again"
    assert w.step() and w.full_reads == 2 and content.collectors == 2
    assert w.inventory().hosts["host-1"].name == "esx-1"


def test_evidence_is_timed_when_vcenter_shows_it_and_wakes_once(watcher: tuple[InventoryWatcher, list[str]]) -> None:
    w, woken = watcher
    assert w.evidence_since("host-1") is None
    w._apply(update_set(("modify", HOST, [change("runtime.connectionState", "notResponding")])))
    seen = w.evidence_since("host-1")
    assert seen is not None and woken == ["esx-1: runtime.connectionState notResponding"]
    w._apply(update_set(("modify", HOST, [change("summary.quickStats.overallCpuUsage", 5)]),
                        ("modify", VM, [change("summary.quickStats.guestHeartbeatStatus", "red")])))
    assert w.evidence_since("host-1") == seen, "the clock stays at the first evidence"
    assert woken[1:] == ["web-1: summary.quickStats.guestHeartbeatStatus red"]
    w._apply(update_set(("modify", HOST, [change("runtime.connectionState", "connected")])))
    assert w.evidence_since("host-1") is None and w.evidence_since("vm-1") is not None
    w._apply(update_set(("modify", VM, [change("summary.quickStats.guestHeartbeatStatus", "green")])))
    w._apply(update_set(("modify", VM, [change("runtime.connectionState", "disconnected")]),
                        ("modify", HOST, [change("runtime.connectionState", "notResponding")])))
    assert woken[2:] == ["esx-1: runtime.connectionState notResponding (and 1 more)"], "one wake per update"


def test_what_was_already_so_at_the_full_read_is_no_evidence(watcher: tuple[InventoryWatcher, list[str]]) -> None:
    w, woken = watcher
    w._apply(update_set(("enter", vim.VirtualMachine("vm-2"), [change("name", "off-1"),
                                                               change("runtime.powerState", "poweredOff")])),
             initial=True)
    w._apply(update_set(("modify", vim.VirtualMachine("vm-2"), [change("config.annotation", "x")])))
    assert w.evidence_since("vm-2") is None and woken == []


def test_a_failure_run_starts_at_the_first_evidence_never_later_than_the_probe() -> None:
    assert ProbeState().after(False, NOW, evidence_since=NOW - 7) == ProbeState(1, NOW - 7, None)
    assert ProbeState().after(False, NOW, evidence_since=NOW + 5).failing_since == NOW
    running = ProbeState(2, NOW - 30, NOW - 60)
    assert running.after(False, NOW, evidence_since=NOW - 7).failing_since == NOW - 30, "a run already started"
    assert ProbeState().after(True, NOW, evidence_since=NOW - 7) == ProbeState(0, None, NOW)
    answered_since = ProbeState(0, None, NOW - 3)
    assert answered_since.after(False, NOW, evidence_since=NOW - 7).failing_since == NOW, \
        "evidence older than the last answer does not start this run"


def sweep_with(chosen: Settings) -> HealthSweep:
    return HealthSweep(None, None, None, lambda: chosen, None, None, None)  # type: ignore[arg-type]


def test_recheck_comes_on_the_confirmation_cadence_or_when_a_host_s_timeout_ends() -> None:
    chosen = settings()
    monitoring = chosen.monitoring
    sweep = sweep_with(chosen)
    quiet = World(NOW, None, {"host-1": HostView(True)}, {})
    assert sweep._recheck_at(quiet) is None
    vm = VmView(classification=None, consecutive_failures=1)  # type: ignore[arg-type]
    assert sweep._recheck_at(World(NOW, None, {}, {"vm-1": vm})) == NOW + monitoring.confirm_interval_seconds
    enough = VmView(classification=None, consecutive_failures=monitoring.failures_before_action)  # type: ignore[arg-type]
    assert sweep._recheck_at(World(NOW, None, {}, {"vm-1": enough})) is None, "complete: decided this sweep"
    ending = NOW - monitoring.isolation_timeout_seconds + 1
    assert sweep._recheck_at(World(NOW, None, {"host-1": HostView(False, ending)}, {})) == NOW + 1
    assert sweep._recheck_at(World(NOW, None, {"host-1": HostView(False, NOW)}, {})) == \
        NOW + monitoring.confirm_interval_seconds
    over = NOW - monitoring.isolation_timeout_seconds - 1
    assert sweep._recheck_at(World(NOW, None, {"host-1": HostView(False, over)}, {})) is None


def test_a_sweep_that_cannot_read_vcenter_leaves_nothing_to_recheck() -> None:
    """Else a recheck time left from before would run the failing sweep again and again."""
    from vsphere_dr.errors import VCenterUnreachable

    class Unreachable:
        def inventory(self) -> None:
            raise VCenterUnreachable("cannot reach vCenter at https://vc.test:443")

    sweep = HealthSweep(Unreachable(), None, None, settings, None, None, None)  # type: ignore[arg-type]
    sweep.recheck_at = NOW - 100
    with pytest.raises(VCenterUnreachable):
        sweep.plan()
    assert sweep.recheck_at is None


class Pacing:
    """A real scheduler with one sweep job every hour, whose runs are recorded."""

    def __init__(self) -> None:
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.runs: list[float] = []
        self.suspect_for: list[float] = []  # what each run leaves suspect: recheck after that many seconds
        self.recheck: float | None = None
        self.hold = threading.Event()
        self.early = EarlySweeps(self.scheduler, "sweep", lambda: self.recheck)
        self.scheduler.add_job(self._run, IntervalTrigger(hours=1, timezone="UTC"), id="sweep", max_instances=1,
                               coalesce=True, next_run_time=datetime.now(timezone.utc) + timedelta(hours=1))
        self.scheduler.start()

    def _run(self) -> None:
        with self.early.sweeping():
            self.runs.append(time.monotonic())
            self.hold.wait(5)
            delay = self.suspect_for.pop(0) if self.suspect_for else None
            self.recheck = None if delay is None else time.time() + delay

    def wait_runs(self, n: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.runs) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.runs) >= n, f"{len(self.runs)} runs, wanted {n}"


@pytest.fixture
def pacing() -> Iterator[Pacing]:
    p = Pacing()
    yield p
    p.hold.set()
    if p.scheduler.running:
        p.scheduler.shutdown(wait=True)


def test_evidence_runs_the_sweep_at_once_not_at_its_interval(pacing: Pacing) -> None:
    pacing.hold.set()
    pacing.early.wake("esx-1: runtime.connectionState notResponding")
    pacing.wait_runs(1)
    next_run = pacing.scheduler.get_job("sweep").next_run_time
    assert next_run > datetime.now(timezone.utc) + timedelta(minutes=50), "the regular cadence goes on"


def test_evidence_during_a_sweep_runs_another_as_soon_as_it_returns(pacing: Pacing) -> None:
    pacing.early.wake("first")
    pacing.wait_runs(1)
    pacing.early.wake("second, while the first sweep runs")
    pacing.hold.set()
    pacing.wait_runs(2)


def test_a_suspect_brings_the_next_sweep_forward(pacing: Pacing) -> None:
    pacing.hold.set()
    pacing.suspect_for = [0.5, 0.5]
    pacing.early.wake("a VM's heartbeat red")
    pacing.wait_runs(3)
    assert pacing.runs[1] - pacing.runs[0] >= 0.3, "at the recheck time, not at once"
    time.sleep(1)
    assert len(pacing.runs) == 3, "nothing suspect any more: back to the interval"


def test_a_paused_sweep_is_not_woken(pacing: Pacing) -> None:
    pacing.scheduler.pause_job("sweep")
    pacing.hold.set()
    pacing.early.wake("evidence")
    time.sleep(0.5)
    assert pacing.runs == [] and pacing.scheduler.get_job("sweep").next_run_time is None


def test_stopping_while_a_sweep_runs_does_not_hang(pacing: Pacing) -> None:
    """SIGTERM during a sweep that leaves something suspect: the scheduler's shutdown waits for
    the sweep while holding its job stores' lock, so the sweep must not ask the scheduler then."""
    pacing.suspect_for = [0.1]
    pacing.early.wake("evidence")
    pacing.wait_runs(1)
    stopping = threading.Thread(target=pacing.scheduler.shutdown, kwargs={"wait": True})
    stopping.start()
    time.sleep(0.2)
    pacing.hold.set()
    stopping.join(5)
    assert not stopping.is_alive(), "shutdown hung"


def test_a_refused_login_ends_the_watcher_and_a_lost_vcenter_is_said_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from vsphere_dr.errors import AuthenticationError, VCenterUnreachable

    w = InventoryWatcher(VCenterSettings(host="vc.test", user="u", password="p"))
    failures = iter([VCenterUnreachable("cannot reach vCenter"), VCenterUnreachable("cannot reach vCenter"),
                     AuthenticationError("vCenter refused the login")])

    def content() -> Any:
        raise next(failures)

    monkeypatch.setattr(w._session, "content", content)
    assert not w.step() and not w.step()
    assert caplog.text.count("cannot reach vCenter") == 1, "said once, not at every retry"
    assert not w.step() and w._stopping.is_set(), "a refused login is not retried"
    assert "inventory watcher stopped: vCenter refused the login" in caplog.text


def test_a_sweep_s_larger_young_generation_ends_with_it_even_when_it_fails() -> None:
    from modules import health_administrator

    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with health_administrator._young_objects_die_young():
            assert gc.get_threshold()[0] == max(before[0], health_administrator.YOUNG_GENERATION)
            with health_administrator._young_objects_die_young():  # a second sweep at once
                pass
            raise RuntimeError("vCenter lost mid-sweep")
    assert gc.get_threshold() == before
