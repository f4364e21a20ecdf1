"""The Snapshot Creator (modules/snapshot_creator.py) against the fake vCenter, without the simulator.

What a user cares about: every monitored VM keeps exactly ``keep`` of our snapshots and every
one of a person's; a VM is never left without one of ours, whatever fails (creating, pruning, the
controller dying in the middle); VMs under recovery and VMs whose host is down are left alone;
and a fault on one VM does not cost the others their snapshot. Time is the test's ``Clock``:
the snapshot names, vCenter's creation times and the journal's times all follow it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path

import pytest

from modules.snapshot_creator import KIND, SnapshotCreator, SnapshotRunReport
from tests.fake_vcenter import FakeVCenter
from tests.recovery_lab import NOW, Clock
from vsphere_dr.errors import InvalidState, RoundIncomplete
from vsphere_dr.journal import Journal
from vsphere_dr.settings import Settings
from vsphere_dr.snapshot_rotation import is_ours, snapshot_name

HOUR = 3600.0
PREFIX = "vsphere-dr"
T = datetime.fromtimestamp(NOW, timezone.utc)
PERSONS = ("before-upgrade", "vsphere-dr-manual", "backup-20270101T000000Z")  # web-01's, never ours


class Crash(BaseException):
    """The controller dies (SIGKILL): nothing after this point is written anywhere."""


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The test's time, also for the names the module gives and the times the fake records."""
    test_clock = Clock()

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return datetime.fromtimestamp(test_clock(), tz)

    monkeypatch.setattr("modules.snapshot_creator.datetime", Frozen)
    monkeypatch.setattr("tests.fake_vcenter.datetime", Frozen)
    return test_clock


@pytest.fixture
def vc() -> FakeVCenter:
    """web-01 (esx-1) and db-01 (esx-2) to be snapshotted; app-03 on esx-3, which is down; a VM
    without an IP; and nested-esx-9, the backing VM of the vHost esx-9 (the other module's).
    In this file ``vc`` is the fake, not conftest's pyVmomi session: nothing here starts a simulator."""
    vc = FakeVCenter()
    vc.add_resource("domain-c1", "cluster-1")
    vc.add_host("host-1", "esx-1", "domain-c1", ("ds-shared",))
    vc.add_host("host-2", "esx-2", "domain-c1", ("ds-shared",))
    vc.add_host("host-3", "esx-3", "domain-c1", ("ds-shared",), connection_state="notResponding")
    vc.add_host("host-9", "esx-9", "domain-c1", ("ds-shared",))
    vc.add_vm("vm-1", "web-01", "host-1", "10.0.0.1")
    vc.add_vm("vm-2", "db-01", "host-2", "10.0.0.2")
    vc.add_vm("vm-3", "app-03", "host-3", "10.0.0.3")
    vc.add_vm("vm-4", "build-cache", "host-1", None)
    vc.add_vm("vm-5", "nested-esx-9", "host-2", "10.0.0.9")
    for index, name in enumerate(PERSONS):
        vc.add_snapshot("vm-1", f"snap-p{index}", name, T - timedelta(days=3 - index))
    vc.add_snapshot("vm-1", "snap-w0", snapshot_name(PREFIX, T - timedelta(hours=2)), T - timedelta(hours=2))
    vc.add_snapshot("vm-2", "snap-d0", snapshot_name(PREFIX, T - timedelta(hours=1)), T - timedelta(hours=1))
    vc.add_snapshot("vm-3", "snap-a0", snapshot_name(PREFIX, T - timedelta(hours=1)), T - timedelta(hours=1))
    return vc


def settings(keep: int = 2) -> Settings:
    return Settings.model_validate({
        "vcenter": {"host": "vc.test", "user": "admin", "password": "not-used"},
        "snapshots": {"keep": keep, "prefix": PREFIX},
        "inventory": {"vhost_backing": "esx-9 = nested-esx-9"},
    })


@pytest.fixture
def j(tmp_path: Path, clock: Clock) -> Iterator[Journal]:
    opened = Journal(tmp_path / "journal.sqlite", clock=clock)
    yield opened
    opened.close()


def creator(vc: FakeVCenter, j: Journal, keep: int = 2, stop: threading.Event | None = None) -> SnapshotCreator:
    chosen = settings(keep)
    return SnapshotCreator(vc.gateway, j, lambda: chosen, stop or threading.Event())


def run_at(clock: Clock, when: float, module: SnapshotCreator) -> SnapshotRunReport:
    """The round's report, whether the round ended failed (some VMs failed) or not."""
    clock.now = when
    try:
        return module.run()
    except RoundIncomplete as exc:
        assert isinstance(exc.report, SnapshotRunReport) and exc.report.failed, "failed only when a VM failed"
        return exc.report


def ours(vc: FakeVCenter, vm: str) -> list[str]:
    """This tool's snapshots of ``vm`` by name, oldest first."""
    return [s.name for s in sorted(vc.vms[vm].snapshots, key=lambda s: s.created) if is_ours(s, PREFIX)]


def theirs(vc: FakeVCenter, vm: str) -> list[str]:
    return [s.name for s in vc.vms[vm].snapshots if not is_ours(s, PREFIX)]


def name_at(when: float) -> str:
    return snapshot_name(PREFIX, datetime.fromtimestamp(when, timezone.utc))


def snapshot_actions(j: Journal, vm: str) -> list[tuple[str, str]]:
    return [(row.state, row.error) for row in j.actions(vm=vm) if row.kind == KIND]


def created_for(vc: FakeVCenter, vm: str) -> list[str]:
    return [change[2] for change in vc.changes if change[:2] == ("create_snapshot", vm)]


def wrap(vc: FakeVCenter, monkeypatch: pytest.MonkeyPatch, op: str,
         after: Callable[[tuple[object, ...], object], None]) -> None:
    """Call ``after(args, answer)`` each time the fake has carried out ``op``."""
    real = getattr(vc.gateway.vms, op)

    def wrapped(*args: object) -> object:
        answer = real(*args)
        after(args, answer)
        return answer

    monkeypatch.setattr(vc.gateway.vms, op, wrapped)


# --- rotation ----------------------------------------------------------------------------------


def test_rounds_keep_exactly_keep_of_ours_and_every_persons(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    module = creator(vc, j, keep=2)
    first = run_at(clock, NOW, module)
    assert first.created == {"db-01": name_at(NOW), "web-01": name_at(NOW)}
    assert first.pruned == [] and first.failed == {}, "two of ours each: nothing beyond keep yet"
    assert ours(vc, "vm-1") == [name_at(NOW - 2 * HOUR), name_at(NOW)]

    before = len(vc.changes)
    second = run_at(clock, NOW + HOUR, module)
    assert second.pruned == [f"db-01: {name_at(NOW - HOUR)}", f"web-01: {name_at(NOW - 2 * HOUR)}"]
    assert [c[0] for c in vc.changes[before:]] == ["create_snapshot"] * 2 + ["remove_snapshot"] * 2, \
        "the new snapshots are made (and seen) before any old one goes"
    third = run_at(clock, NOW + 2 * HOUR, module)
    assert third.summary() == "2 created, 2 pruned, 1 skipped, 0 failed"

    for vm in ("vm-1", "vm-2"):
        assert ours(vc, vm) == [name_at(NOW + HOUR), name_at(NOW + 2 * HOUR)]
        assert snapshot_actions(j, vm) == [("done", "")] * 3
    assert sorted(theirs(vc, "vm-1")) == sorted(PERSONS), "a person's snapshots are never touched"
    assert [(s.vm_name, s.newest_at, s.last_error) for s in j.snapshot_status()] == [
        ("db-01", NOW + 2 * HOUR, ""), ("web-01", NOW + 2 * HOUR, "")]
    assert j.unfinished_actions() == []


def test_each_journaled_snapshot_names_what_it_made(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    run_at(clock, NOW, creator(vc, j))
    (row,) = j.actions(vm="vm-1")
    made = next(s for s in vc.vms["vm-1"].snapshots if s.name == name_at(NOW))
    assert (row.kind, row.state, row.step) == ("snapshot", "done", "created")
    assert row.params == {"name": name_at(NOW), "module": "snapshot_creator"}
    assert row.result == {"snapshot": made.moref}
    assert j.unfinished_recoveries() == [] and j.vms_under_recovery() == set(), "a snapshot is not a recovery"


def test_keep_is_read_each_run(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    """The settings are a callable (hot reload): a smaller keep takes effect on the next round."""
    chosen = [settings(keep=3)]
    module = SnapshotCreator(vc.gateway, j, lambda: chosen[0], threading.Event())
    run_at(clock, NOW, module)
    run_at(clock, NOW + HOUR, module)
    assert len(ours(vc, "vm-1")) == 3
    chosen[0] = settings(keep=1)
    run_at(clock, NOW + 2 * HOUR, module)
    assert ours(vc, "vm-1") == ours(vc, "vm-2") == [name_at(NOW + 2 * HOUR)]
    assert sorted(theirs(vc, "vm-1")) == sorted(PERSONS)


# --- what is left alone ------------------------------------------------------------------------


def test_only_monitored_vms_are_snapshotted_not_the_vhosts_backing_vms(vc: FakeVCenter, j: Journal,
                                                                       clock: Clock) -> None:
    report = run_at(clock, NOW, creator(vc, j))
    assert {change[1] for change in vc.changes} == {"vm-1", "vm-2"}
    assert "build-cache" not in report.skipped and "nested-esx-9" not in report.skipped, \
        "not targets at all: no IP, or the other Snapshot Creator's"


def test_a_vm_on_a_host_that_is_down_is_skipped_and_keeps_its_snapshots(vc: FakeVCenter, j: Journal,
                                                                        clock: Clock) -> None:
    module = creator(vc, j)
    for round_ in range(3):
        report = run_at(clock, NOW + round_ * HOUR, module)
        assert report.skipped == {"app-03": "its host is not connected"}
    assert created_for(vc, "vm-3") == [] and ours(vc, "vm-3") == [name_at(NOW - HOUR)]
    assert j.actions(vm="vm-3") == []


@pytest.mark.parametrize("under_way", ["open incident", "unfinished recovery"])
def test_a_vm_under_recovery_is_left_alone_until_its_recovery_is_over(vc: FakeVCenter, j: Journal, clock: Clock,
                                                                      under_way: str) -> None:
    if under_way == "open incident":
        incident = j.open_incident("vm-2", "db-01", "no answer", NOW - 90)
    else:
        action = j.intend("reset", "vm-2", "db-01", {"host": "host-2"}, "hung")
        j.progress(action, "still_hung")
    module = creator(vc, j)
    report = run_at(clock, NOW, module)
    assert report.skipped == {"db-01": "under recovery", "app-03": "its host is not connected"}
    assert list(report.created) == ["web-01"], "the others still get theirs"
    assert created_for(vc, "vm-2") == [] and ours(vc, "vm-2") == [name_at(NOW - HOUR)]
    assert snapshot_actions(j, "vm-2") == []

    if under_way == "open incident":
        j.close_incident(incident, "recovered", "reset done", recovered_at=NOW + 60)
    else:
        j.finish(action)
    report = run_at(clock, NOW + HOUR, module)
    assert "db-01" in report.created


def test_a_vm_waiting_for_a_person_keeps_its_last_good_snapshot(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    """db-01 hit the restart limit: it is down and its incident waits for a person. Snapshots of
    it as it is now must not push out the last good one the person will want to restore; the
    vHost module keeps the same rule for a broken vHost (modules/snapshot_creator_vhost.py)."""
    incident = j.open_incident("vm-2", "db-01", "no answer", NOW - 600)
    j.close_incident(incident, "needs_person", "restart limit")
    vc.vms["vm-2"].power_state, vc.vms["vm-2"].guest_up = "poweredOff", False
    module = creator(vc, j, keep=2)
    for round_ in range(3):
        run_at(clock, NOW + round_ * HOUR, module)
    assert name_at(NOW - HOUR) in ours(vc, "vm-2")


# --- faults: one VM's does not stop the others, and never leaves a VM with none -----------------


def test_a_round_in_which_a_vm_failed_ends_failed_naming_it(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    """So that `status` shows it failed and `once` exits 1 (cron mails it); it used to end "ok"."""
    vc.fail_next("create_snapshot", InvalidState("vCenter fault InvalidState while snapshotting vm-2", "InvalidState"))
    clock.now = NOW
    with pytest.raises(RoundIncomplete, match=r"1 created, .* 1 failed: db-01: creating snapshot: vCenter fault"):
        creator(vc, j).run()
    assert name_at(NOW) in ours(vc, "vm-1"), "web-01 got its snapshot all the same"


def test_a_fault_creating_one_vms_snapshot_is_journaled_and_the_others_get_theirs(vc: FakeVCenter, j: Journal,
                                                                                 clock: Clock) -> None:
    module = creator(vc, j, keep=1)
    for round_ in range(3):
        # db-01 is the first VM snapshotted (by name; app-03 is skipped): the fault is its own.
        vc.fail_next("create_snapshot", InvalidState("vCenter fault InvalidState while snapshotting vm-2",
                                                     "InvalidState"))
        report = run_at(clock, NOW + round_ * HOUR, module)
        assert report.failed == {"db-01": "creating snapshot: vCenter fault InvalidState while snapshotting vm-2"}
        assert list(report.created) == ["web-01"]
    assert ours(vc, "vm-2") == [name_at(NOW - HOUR)], "the failing VM keeps its old snapshot: never zero"
    assert ours(vc, "vm-1") == [name_at(NOW + 2 * HOUR)]
    assert snapshot_actions(j, "vm-2") == [
        ("failed", "creating snapshot: vCenter fault InvalidState while snapshotting vm-2")] * 3
    status = {s.vm_name: s for s in j.snapshot_status()}
    assert (status["db-01"].newest_at, status["db-01"].last_error) == (
        NOW - HOUR, "creating snapshot: vCenter fault InvalidState while snapshotting vm-2"), \
        "the age a user sees is the old snapshot's, with the reason there is no newer one"
    assert (status["web-01"].newest_at, status["web-01"].last_error) == (NOW + 2 * HOUR, "")

    run_at(clock, NOW + 3 * HOUR, module)
    assert ours(vc, "vm-2") == [name_at(NOW + 3 * HOUR)], "once vCenter takes it again, rotation goes on"
    assert {s.vm_name: s.last_error for s in j.snapshot_status()} == {"db-01": "", "web-01": ""}


def test_a_host_that_goes_down_mid_round_costs_only_its_vms_snapshot(vc: FakeVCenter, j: Journal, clock: Clock,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """esx-1 stops responding after the inventory was read: vCenter refuses web-01's snapshot."""
    def esx1_dies(args: tuple[object, ...], answer: object) -> None:
        if args[0] == "vm-2":  # db-01 comes first
            vc.hosts["host-1"].connection_state = "notResponding"

    wrap(vc, monkeypatch, "create_snapshot", esx1_dies)
    report = run_at(clock, NOW, creator(vc, j, keep=1))
    assert list(report.failed) == ["web-01"] and "InvalidHostState" in report.failed["web-01"]
    assert ours(vc, "vm-1") == [name_at(NOW - 2 * HOUR)] and sorted(theirs(vc, "vm-1")) == sorted(PERSONS)
    assert ours(vc, "vm-2") == [name_at(NOW)], "db-01 was snapshotted and pruned as usual"


def test_a_fault_while_pruning_keeps_the_new_snapshot(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    module = creator(vc, j, keep=2)
    run_at(clock, NOW, module)
    # db-01's old snapshot is the first to be removed in the next round.
    vc.fail_next("remove_snapshot", InvalidState("vCenter fault InvalidState: snapshot busy", "InvalidState"))
    report = run_at(clock, NOW + HOUR, module)
    assert report.failed == {"db-01": "pruning old snapshots: vCenter fault InvalidState: snapshot busy"}
    assert report.pruned == [f"web-01: {name_at(NOW - 2 * HOUR)}"], "web-01's pruning went on"
    assert ours(vc, "vm-2") == [name_at(NOW - HOUR), name_at(NOW), name_at(NOW + HOUR)], \
        "the new snapshot stays, and so do the old ones the fault left"
    assert snapshot_actions(j, "vm-2")[-1] == ("failed",
                                               "pruning old snapshots: vCenter fault InvalidState: snapshot busy")
    status = {s.vm_name: s for s in j.snapshot_status()}
    assert status["db-01"].newest_at == NOW + HOUR, "the new snapshot counts: it exists"

    run_at(clock, NOW + 2 * HOUR, module)
    assert ours(vc, "vm-2") == [name_at(NOW + HOUR), name_at(NOW + 2 * HOUR)], "the next round catches up"


def test_a_new_snapshot_vcenter_does_not_show_prunes_nothing(vc: FakeVCenter, j: Journal, clock: Clock,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """vCenter answered the creation with a moref but the VM's snapshots do not show it: the old
    ones are the only ones known to exist, so none of them goes."""
    def vanishes(args: tuple[object, ...], moref: object) -> None:
        if args[0] == "vm-2":
            vc.vms["vm-2"].snapshots = [s for s in vc.vms["vm-2"].snapshots if s.moref != moref]

    module = creator(vc, j, keep=1)
    wrap(vc, monkeypatch, "create_snapshot", vanishes)
    report = run_at(clock, NOW, module)
    assert set(report.failed) == {"db-01"} and "not found after creation" in report.failed["db-01"]
    assert list(report.created) == ["web-01"], "only what was seen counts as created"
    assert ours(vc, "vm-2") == [name_at(NOW - HOUR)]
    assert ours(vc, "vm-1") == [name_at(NOW)]
    [(state, error)] = snapshot_actions(j, "vm-2")
    assert state == "failed" and "not found after creation" in error
    assert {s.vm_name: s.newest_at for s in j.snapshot_status()} == {"db-01": NOW - HOUR, "web-01": NOW}


def test_a_vm_deleted_between_creation_and_verification_is_a_failure_not_a_crash(
        vc: FakeVCenter, j: Journal, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    def deleted(args: tuple[object, ...], moref: object) -> None:
        if args[0] == "vm-2":
            del vc.vms["vm-2"]

    wrap(vc, monkeypatch, "create_snapshot", deleted)
    report = run_at(clock, NOW, creator(vc, j))
    assert set(report.failed) == {"db-01"} and list(report.created) == ["web-01"]
    assert {s.vm_name: s.newest_at for s in j.snapshot_status()}["db-01"] is None
    assert j.unfinished_actions() == []


# --- stops and crashes: the journal says what happened, the next run settles it ------------------


def test_a_stop_before_the_round_snapshots_nothing(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    stop = threading.Event()
    stop.set()
    report = run_at(clock, NOW, creator(vc, j, stop=stop))
    assert report.skipped == {"app-03": "controller stopping", "db-01": "controller stopping",
                              "web-01": "controller stopping"}
    assert vc.changes == [] and j.actions() == []


def test_a_stop_mid_round_finishes_what_was_made_and_defers_the_pruning(vc: FakeVCenter, j: Journal, clock: Clock,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    stop = threading.Event()
    with monkeypatch.context() as patched:
        wrap(vc, patched, "create_snapshot", lambda args, answer: stop.set())
        report = run_at(clock, NOW, creator(vc, j, keep=1, stop=stop))
    assert list(report.created) == ["db-01"] and report.skipped["web-01"] == "controller stopping"
    assert report.pruned == [] and ours(vc, "vm-2") == [name_at(NOW - HOUR), name_at(NOW)], \
        "a stop does not wait for removals"
    (row,) = j.actions(vm="vm-2")
    assert row.state == "done" and row.result["pruning"] == "deferred: controller stopping"
    assert j.unfinished_actions() == []

    run_at(clock, NOW + HOUR, creator(vc, j, keep=1))
    assert ours(vc, "vm-2") == [name_at(NOW + HOUR)] and ours(vc, "vm-1") == [name_at(NOW + HOUR)]


class CrashAfterIntent(Journal):
    """A journal whose process dies right after it journals the first snapshot's intent."""

    def intend(self, *args: object, **kwargs: object) -> int:
        super().intend(*args, **kwargs)  # type: ignore[arg-type]
        raise Crash


class CrashAfterCreated(Journal):
    """A journal whose process dies right after it records the first snapshot as created."""

    def progress(self, action: int, step: str, result: dict[str, object] | None = None) -> None:
        super().progress(action, step, result)
        raise Crash


def die(args: tuple[object, ...], answer: object) -> None:
    raise Crash


def crash(point: str, vc: FakeVCenter, path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a round that dies at ``point``; the fake vCenter keeps whatever was done by then."""
    journal_type = {"after the intent": CrashAfterIntent, "after the journal heard": CrashAfterCreated}.get(
        point, Journal)
    with monkeypatch.context() as patched:  # the dead process's wrappers go with it
        if point == "after vCenter made it":
            wrap(vc, patched, "create_snapshot", die)
        elif point == "while pruning":
            wrap(vc, patched, "remove_snapshot", die)
        dying = journal_type(path, clock=clock)  # never closed: the process was killed
        with pytest.raises(Crash):
            run_at(clock, NOW + HOUR, creator(vc, dying, keep=1))


@pytest.mark.parametrize("point, settled, left_by_crash", [
    ("after the intent", "abandoned", ["vm-2"]),
    ("after vCenter made it", "done", ["vm-2"]),
    ("after the journal heard", "done", ["vm-2"]),
    ("while pruning", "done", ["vm-2", "vm-1"]),  # both were created, neither finished
])
def test_a_crash_mid_round_is_settled_by_the_next_run(vc: FakeVCenter, tmp_path: Path, clock: Clock,
                                                      monkeypatch: pytest.MonkeyPatch, point: str,
                                                      settled: str, left_by_crash: list[str]) -> None:
    path = tmp_path / "journal.sqlite"
    first = Journal(path, clock=clock)
    run_at(clock, NOW, creator(vc, first, keep=1))  # a normal round: one of ours each
    first.close()
    crash(point, vc, path, clock, monkeypatch)

    restarted = Journal(path, clock=clock)
    try:
        left = restarted.unfinished_actions()
        assert [(row.kind, row.vm, row.params["name"]) for row in left] == [
            ("snapshot", vm, name_at(NOW + HOUR)) for vm in left_by_crash]
        report = run_at(clock, NOW + 2 * HOUR, creator(vc, restarted, keep=1))
        for row in map(restarted.action, (row.id for row in left)):
            assert row.state == settled
            if settled == "abandoned":
                assert row.error == "controller stopped before the snapshot was created"
            else:
                assert row.result["reconciled"] == "snapshot found after restart"
        assert restarted.unfinished_actions() == []
        assert set(report.created) == {"db-01", "web-01"} and report.failed == {}
        assert ours(vc, "vm-2") == ours(vc, "vm-1") == [name_at(NOW + 2 * HOUR)], "back to exactly keep"
        made_once = 0 if settled == "abandoned" else 1
        assert created_for(vc, "vm-2") == [name_at(NOW)] + [name_at(NOW + HOUR)] * made_once + [
            name_at(NOW + 2 * HOUR)], "nothing created twice: the crashed round's snapshot is not made again"
    finally:
        restarted.close()


def test_only_its_own_unfinished_snapshots_are_settled(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    """The vHost Snapshot Creator's may be under way right now, and recoveries are the executor's."""
    other = j.intend(KIND, "vm-5", "nested-esx-9", {"name": name_at(NOW - 60), "module": "snapshot_creator_vhost"},
                     "scheduled snapshot rotation")
    recovery = j.intend("reset", "vm-7", "app-07", {"host": "host-1"}, "hung")
    run_at(clock, NOW, creator(vc, j))
    assert {row.id for row in j.unfinished_actions()} == {other, recovery}


def test_an_unfinished_snapshot_of_a_vm_gone_from_vcenter_is_abandoned(vc: FakeVCenter, j: Journal,
                                                                       clock: Clock) -> None:
    gone = j.intend(KIND, "vm-99", "old-vm", {"name": name_at(NOW - HOUR), "module": "snapshot_creator"},
                    "scheduled snapshot rotation")
    run_at(clock, NOW, creator(vc, j))
    assert j.action(gone).state == "abandoned"
