"""Drills (vsphere_dr/drills.py) against the fake vCenter: the flow, every point a drill can be
killed at and cleaned up from, the refusal beside a recovery, and that nothing but a drill's own
marked copy is ever powered off or deleted.

What an operator cares about: a drill proves the copy boots (heartbeat, and the probe where set)
and says how long it took and how old its data was; production VMs, their snapshots and their
replicas come out exactly as they went in; a drill killed at any step leaves nothing behind once
vsphere-dr starts again; a real recovery always wins.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from modules.replica_creator import resolve_targets
from tests.fake_vcenter import FakeVCenter, FakeVm
from tests.recovery_lab import NOW, SNAPSHOT_TIME, Clock, journal, lab
from vsphere_dr import drill_marks
from vsphere_dr.drill_report import chart_svg, report_as_dict, report_html, report_text, rpo, time_to_answer
from vsphere_dr.drills import DrillRunner, DrillTools, clean_up, select_vms, source_of
from vsphere_dr.errors import NotADrillCopy, TaskTimeout, UsageError, VSphereFault
from vsphere_dr.journal import Journal
from vsphere_dr.protection import protected_vms, verdicts
from vsphere_dr.records import CopyState, NicState
from vsphere_dr.replicas import mark_text, replica_name
from vsphere_dr.settings import ProtectionGroup, Settings

PREFIX = "vsphere-dr-drill"


class Killed(BaseException):
    """SIGKILL: nothing of the process runs after it (no except VsphereDrError, no clean-up)."""


def settings(**drill: Any) -> Settings:
    return Settings.model_validate({
        "vcenter": {"host": "vc.test", "user": "admin", "password": "not-used"},
        "replication": {"enabled": True, "hosts": "esx-1, esx-2, esx-3", "datastores": "ds-shared, ds-local3"},
        "drill": {"timeout_seconds": 60, **drill}})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def j(tmp_path: Path, clock: Clock) -> Journal:
    return journal(tmp_path, clock)


@pytest.fixture
def vc() -> FakeVCenter:
    """web-01 on esx-1 with a replica on esx-3 (made by the Replica Creator); db-01 on esx-2 with
    a snapshot and no replica; bare-01 with neither."""
    vc = lab()
    vc.add_vm("vm-2", "db-01", "host-2", "10.0.0.2")
    vc.add_snapshot("vm-2", "snap-2", "vsphere-dr-20270115T073000Z", SNAPSHOT_TIME)
    vc.add_vm("vm-9", "bare-01", "host-2", "10.0.0.9")
    return vc


def with_replica(vc: FakeVCenter) -> str:
    """web-01's replica on esx-3, made as the Replica Creator makes one; its moref."""
    vm = vc.inventory().vms["vm-1"]
    snap = vm.newest_snapshot
    assert snap is not None
    return vc.gateway.vms.clone_from_snapshot("vm-1", snap.moref, replica_name("web-01", "-replica", snap.created),
                                              "host-3", "resgroup-domain-s3", "ds-local3",
                                              mark_text(vm, snap.name, snap.created))


def tools(vc: FakeVCenter, j: Journal, clock: Clock, fixed: Settings | None = None) -> DrillTools:
    chosen = fixed or settings()
    return DrillTools(vc.gateway, j, lambda: chosen, lambda address, _port: vc.probe(address),
                      sleep=clock.sleep, clock=clock)


def drill(vc: FakeVCenter, j: Journal, clock: Clock, names: list[str], fixed: Settings | None = None,
          t: DrillTools | None = None) -> int:
    chosen = fixed or settings()
    inv = vc.inventory()
    targets = resolve_targets(inv, chosen.replication)
    vms = select_vms(inv, chosen, names, everything=False)
    return DrillRunner(t or tools(vc, j, clock, chosen)).run(inv, vms, targets.hosts, targets.datastores, "test")


def production(vc: FakeVCenter) -> dict[str, dict[str, Any]]:
    """Everything about every VM that is not a drill copy: must be the same after any drill."""
    return {m: asdict(v) for m, v in vc.vms.items() if not v.name.startswith(PREFIX)}


def copies(vc: FakeVCenter) -> list[FakeVm]:
    return [v for v in vc.vms.values() if v.name.startswith(PREFIX)]


def changed_vms(vc: FakeVCenter, since: int) -> set[str]:
    """The VMs the operations since change ``since`` changed (a clone changes only its copy)."""
    return {c[1] for c in vc.changes[since:] if c[0] not in ("clone_for_drill", "clone_from_snapshot")}


def test_a_drill_boots_an_isolated_marked_copy_of_the_newest_replica_then_deletes_it(
        vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    replica = with_replica(vc)
    before, mark = production(vc), len(vc.changes)
    booted: list[FakeVm] = []
    power_on = vc.gateway.vms.power_on

    def watch(vm: str, moved: bool = False) -> None:
        power_on(vm, moved)
        booted.append(replace(vc.vms[vm]))

    vc.gateway.vms.power_on = watch  # type: ignore[method-assign]
    run = drill(vc, j, clock, ["web-01"])
    (row,) = j.drills(run)
    assert (row.state, row.error, row.cleaned) == ("passed", "", 1)
    assert (row.source_kind, row.source_vm) == ("replica", replica)
    assert vc.changes[mark][:2] == ("clone_for_drill", replica), "cloned from the replica, not from web-01"
    (copy,) = booted
    assert copy.name.startswith(f"{PREFIX}-web-01-") and copy.host != "host-1"
    assert all(not nic.connected and not nic.start_connected for nic in copy.nics), "isolated when it ran"
    assert drill_marks.parse_mark(copy.annotation) is not None and copy.extra[drill_marks.EXTRA_KEY]
    assert copies(vc) == [] and production(vc) == before, "nothing left behind, nothing of production changed"
    assert changed_vms(vc, mark) == {row.copy}, "every power operation and the deletion were of the copy"
    assert time_to_answer(row) is not None and rpo(row) == pytest.approx(NOW - SNAPSHOT_TIME.timestamp())
    assert j.drill_runs()[-1].outcome == "passed"


def test_without_a_replica_the_copy_is_made_from_the_newest_snapshot(vc: FakeVCenter, j: Journal,
                                                                       clock: Clock) -> None:
    before = production(vc)
    (row,) = j.drills(drill(vc, j, clock, ["db-01"]))
    assert (row.state, row.source_kind, row.source_vm, row.source_snapshot) == ("passed", "snapshot", "vm-2", "snap-2")
    assert copies(vc) == [] and production(vc) == before


def test_a_vm_with_nothing_to_drill_from_is_refused_and_the_run_fails(vc: FakeVCenter, j: Journal,
                                                                       clock: Clock) -> None:
    run = drill(vc, j, clock, ["bare-01", "db-01"])
    rows = {r.vm_name: r for r in j.drills(run)}
    assert rows["bare-01"].state == "refused" and "no replica and no snapshot" in rows["bare-01"].error
    assert rows["db-01"].state == "passed"
    assert j.drill_runs()[-1].outcome == "failed"
    assert [c for c in vc.changes if c[0] == "clone_for_drill"] == [("clone_for_drill", "vm-2", rows["db-01"].copy_name,
                                                                     rows["db-01"].host, rows["db-01"].datastore)]


@pytest.mark.parametrize("busy", ["incident", "recovery"])
def test_a_vm_under_recovery_is_refused_and_nothing_is_cloned(vc: FakeVCenter, j: Journal, clock: Clock,
                                                               busy: str) -> None:
    if busy == "incident":
        j.open_incident("vm-2", "db-01", "does not answer", NOW)
    else:
        j.intend("restart_from_snapshot", "vm-2", "db-01", {}, "does not answer")
    (row,) = j.drills(drill(vc, j, clock, ["db-01"]))
    assert row.state == "refused" and "under recovery" in row.error
    assert "clone_for_drill" not in vc.kinds_of_change()


def test_a_recovery_that_begins_while_the_copy_boots_wins_and_the_copy_is_removed(
        vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    """The health sweep (another process: the journal is shared) opens an incident for db-01
    while its copy boots: the drill sees it at its next check and ends aborted, copy removed."""
    vc.vms["vm-2"].broken = False
    state = vc.gateway.vms.copy_state
    seen: list[str] = []

    def sweep_meanwhile(vm: str) -> CopyState | None:
        found = state(vm)
        if found is not None and found.power_state == "poweredOn" and not seen:
            seen.append(vm)
            j.open_incident("vm-2", "db-01", "does not answer", clock())
        return found

    vc.gateway.vms.copy_state = sweep_meanwhile  # type: ignore[method-assign]
    (row,) = j.drills(drill(vc, j, clock, ["db-01"]))
    assert row.state == "aborted" and "a recovery of db-01 began" in row.error and row.cleaned == 1
    assert copies(vc) == [] and row.answered_at is None


def test_a_copy_that_never_answers_fails_after_the_timeout_and_is_removed(vc: FakeVCenter, j: Journal,
                                                                           clock: Clock) -> None:
    vc.gateway.vms.clone_for_drill = _broken(vc)  # type: ignore[method-assign]
    (row,) = j.drills(drill(vc, j, clock, ["db-01"]))
    assert row.state == "failed" and "did not answer (its guest heartbeat) within 60 s" in row.error
    assert copies(vc) == [] and row.cleaned == 1 and clock.now >= NOW + 60


def test_a_copy_left_connected_by_the_clone_is_never_powered_on(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    clone = vc.gateway.vms.clone_for_drill

    def connected_clone(*args: Any) -> str:
        moref = clone(*args)
        vc.vms[moref].nics = [NicState("Network adapter 1", True, True, "VM Network")]
        return moref

    vc.gateway.vms.clone_for_drill = connected_clone  # type: ignore[method-assign]
    (row,) = j.drills(drill(vc, j, clock, ["db-01"]))
    assert row.state == "failed" and "Network adapter 1" in row.error and "is connected" in row.error
    assert ("power_on", row.copy) not in vc.changes and copies(vc) == []


def test_on_a_drill_network_the_probe_checks_the_copy_s_own_address(vc: FakeVCenter, j: Journal,
                                                                     clock: Clock) -> None:
    probed: list[tuple[str, int]] = []
    vc.drill_network_address = "192.0.2.50"
    fixed = settings(network="drill-net", probe="tcp:22")
    t = tools(vc, j, clock, fixed)
    t.probe = lambda address, port: bool(probed.append((address, port))) or vc.probe(address)
    (row,) = j.drills(drill(vc, j, clock, ["db-01"], fixed, t))
    assert row.state == "passed" and probed == [("192.0.2.50", 22)]


def test_a_probe_that_would_reach_production_is_not_a_pass(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    fixed = settings(network="drill-net", probe="tcp:22")
    (row,) = j.drills(drill(vc, j, clock, ["db-01"], fixed))
    assert row.state == "failed" and "cannot tell the copy from production" in row.error and copies(vc) == []


# --- killed half-way: the next start cleans up ------------------------------------------------


def kill_at(vc: FakeVCenter, operation: str, after: bool = False) -> None:
    """The process dies at ``operation``: before it, or once vCenter has carried it out."""
    ops = vc.gateway.vms
    real = getattr(ops, operation)

    def killed(*args: Any) -> Any:
        if after:
            real(*args)
        raise Killed(operation)

    setattr(ops, operation, killed)


@pytest.mark.parametrize("operation, after, copy_journaled", [
    ("clone_for_drill", True, False),  # the clone completed, its moref never journaled
    ("power_on", False, True),  # after the clone
    ("power_on", True, True),  # after the power-on: the copy runs
    ("power_off", True, True),  # before the deletion: powered off, still there
    ("destroy_drill_copy", False, True),
])
def test_a_drill_killed_at_any_step_is_cleaned_up_at_the_next_start(
        vc: FakeVCenter, tmp_path: Path, clock: Clock, operation: str, after: bool, copy_journaled: bool) -> None:
    j = journal(tmp_path, clock)
    before = production(vc)
    kill_at(vc, operation, after)
    with pytest.raises(Killed):
        drill(vc, j, clock, ["db-01"])
    (row,) = j.drills()
    assert (row.state, row.cleaned, row.copy is not None) == ("running", 0, copy_journaled)
    assert len(copies(vc)) == 1
    j.close()
    delattr(vc.gateway.vms, operation)  # the next process: the same vCenter, nobody killed
    again = journal(tmp_path, clock)
    removed = clean_up(tools(vc, again, clock), scan=False)
    assert len(removed) == 1 and copies(vc) == [] and production(vc) == before
    (row,) = again.drills()
    assert row.state == "failed" and row.cleaned == 1 and "interrupted after step" in row.error
    assert again.drill_runs()[-1].outcome == "interrupted"
    assert clean_up(tools(vc, again, clock), scan=False) == [], "nothing left to do"


def test_a_clone_that_completes_after_its_drill_was_cleaned_up_is_found_by_the_next_drill(
        vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    """The process died while vCenter still ran the clone: the clean-up found no copy; the task
    completed later. The next drill's scan finds the marked copy of a drill of this journal."""
    kill_at(vc, "clone_for_drill")
    with pytest.raises(Killed):
        drill(vc, j, clock, ["db-01"])
    del vc.gateway.vms.clone_for_drill
    assert clean_up(tools(vc, j, clock), scan=False) == [] and copies(vc) == []
    (row,) = j.drills()
    late = vc.gateway.vms.clone_for_drill("vm-2", "snap-2", row.copy_name, row.host, "resgroup-domain-c1",
                                          row.datastore, drill_marks.annotation("db-01", row.id, row.token),
                                          drill_marks.extra_value(row.id, row.token), None)
    assert clean_up(tools(vc, j, clock), scan=True) == [f"{row.copy_name} ({late})"] and copies(vc) == []


# --- nothing but a drill's own marked copy is ever deleted -------------------------------------


def test_only_a_vm_with_every_mark_of_the_drill_is_deleted(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    run = drill(vc, j, clock, ["db-01"])
    (row,) = j.drills(run)
    mark = drill_marks.extra_value(row.id, row.token)
    note = drill_marks.annotation("db-01", row.id, row.token)
    name = f"{PREFIX}-db-01-x"
    cases = {  # what a VM lacks -> the VM
        "the prefix": vc.add_vm("vm-51", "db-01-copy", "host-2", None, annotation=note, extra={drill_marks.EXTRA_KEY: mark}),
        "the annotation": vc.add_vm("vm-52", name + "2", "host-2", None, extra={drill_marks.EXTRA_KEY: mark}),
        "the extraConfig": vc.add_vm("vm-53", name + "3", "host-2", None, annotation=note),
        "the token": vc.add_vm("vm-54", name + "4", "host-2", None, annotation=note,
                               extra={drill_marks.EXTRA_KEY: drill_marks.extra_value(row.id, "0" * 16)}),
    }
    for lacks, vm in cases.items():
        vm.power_state = "poweredOff"
        with pytest.raises(NotADrillCopy):
            vc.gateway.vms.destroy_drill_copy(vm.moref, PREFIX, row.id, row.token)
        assert vm.moref in vc.vms, lacks


def test_a_journal_row_naming_a_production_vm_never_touches_it(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    """A journal edited by hand (or a moref vCenter reused) points at web-01: the clean-up reads
    web-01's marks, finds none, and neither powers it off nor deletes it."""
    run = j.start_drill_run("test")
    drill_id = j.intend_drill(run, "vm-2", "db-01", prefix=PREFIX, copy_name=f"{PREFIX}-db-01-x",
                              token=drill_marks.new_token(), copy="vm-1")
    before = production(vc)
    assert clean_up(tools(vc, j, clock), scan=True) == []
    assert production(vc) == before and vc.vms["vm-1"].power_state == "poweredOn"
    assert j.drill(drill_id).cleaned == 0, "kept for a person to look at, tried again at the next start"


def test_a_marked_copy_of_another_journal_is_left_alone(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    token = drill_marks.new_token()
    other = vc.add_vm("vm-60", f"{PREFIX}-db-01-other", "host-2", "10.0.0.2", power_state="poweredOff",
                      annotation=drill_marks.annotation("db-01", 1, token),
                      extra={drill_marks.EXTRA_KEY: drill_marks.extra_value(1, token)})
    assert clean_up(tools(vc, j, clock), scan=True) == [] and other.moref in vc.vms


def test_drill_copies_are_neither_monitored_nor_protected(vc: FakeVCenter) -> None:
    token = drill_marks.new_token()
    vc.add_vm("vm-61", f"{PREFIX}-web-01-x", "host-3", "10.0.0.1",
              annotation=drill_marks.annotation("web-01", 3, token))
    inv = vc.inventory()
    assert "vm-61" not in {vm.moref for vm in inv.monitored_vms()}
    assert "vm-61" not in {vm.moref for vm in protected_vms(inv, settings())}
    assert "drill copy of web-01" in verdicts(inv, settings())["vm-61"].reason


# --- selection and reports ---------------------------------------------------------------------


def test_selection_names_what_is_wrong(vc: FakeVCenter, j: Journal) -> None:
    replica_name = vc.vms[with_replica(vc)].name
    inv, s = vc.inventory(), settings()
    with pytest.raises(UsageError, match="no VM named nope"):
        select_vms(inv, s, ["web-01", "nope"], everything=False)
    with pytest.raises(UsageError, match="not a protected VM"):
        select_vms(inv, s, [replica_name], everything=False)
    with pytest.raises(UsageError, match="--group: no protection group 'tier1'"):
        select_vms(inv, s, [], everything=False, group="tier1")
    grouped = s.model_copy(update={"protection_groups": {"tier1": ProtectionGroup(vms=["db-*", "web-*"]),
                                                         "rest": ProtectionGroup(vms=["*"])}})
    assert [vm.name for vm in select_vms(inv, grouped, [], everything=False, group="tier1")] == ["db-01", "web-01"]
    with pytest.raises(UsageError, match="bare-01: not a protected VM"):
        select_vms(inv, s.model_copy(update={"protection_groups": {"tier1": ProtectionGroup(vms=["db-*"])}}),
                   ["bare-01"], everything=False)
    assert [vm.name for vm in select_vms(inv, s, [], everything=True)] == ["bare-01", "db-01", "web-01"]
    assert isinstance(source_of(inv, inv.vms["vm-9"]), str)
    with pytest.raises(UsageError, match="no protected VM"):
        select_vms(FakeVCenter().inventory(), s, [], everything=True)


def test_the_report_in_text_json_and_a_page_with_a_chart(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    run_id = drill(vc, j, clock, ["db-01", "bare-01"])
    run, rows = j.drill_runs()[-1], j.drills(run_id)
    data = report_as_dict(run, rows)
    assert data["outcome"] == "failed" and data["passed"] == 1
    assert [(v["vm_name"], v["outcome"]) for v in data["vms"]] == [("db-01", "passed"), ("bare-01", "refused")]
    assert data["vms"][0]["rpo_seconds"] == pytest.approx(NOW - SNAPSHOT_TIME.timestamp())
    assert data["vms"][0]["copy"]["removed"] is True and data["started_at"].endswith("Z"), "UTC, as every JSON time of vsphere-dr"
    text = report_text(run, rows)
    assert "1 of 2 VMs passed" in text and "db-01" in text and "bare-01" in text
    page = report_html(run, rows)
    assert page.count("<svg") == 1 and chart_svg(rows) in page and "db-01" in page
    assert "src=" not in page and "href=" not in page and "<script" not in page, "no external assets"


def test_a_stop_while_the_copy_boots_removes_the_copy(vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    t = tools(vc, j, clock)
    vc.gateway.vms.clone_for_drill = _broken(vc)  # type: ignore[method-assign]
    t.sleep = lambda _seconds: t.stop.set()  # SIGTERM while it waits
    (row,) = j.drills(drill(vc, j, clock, ["db-01"], t=t))
    assert row.state == "failed" and "stopping" in row.error and copies(vc) == [] and row.cleaned == 1
    assert j.drill_runs()[-1].outcome == "interrupted"


def test_a_clone_that_timed_out_but_completed_is_found_by_its_mark_and_removed(vc: FakeVCenter, j: Journal,
                                                                              clock: Clock) -> None:
    clone = vc.gateway.vms.clone_for_drill

    def timed_out(*args: Any) -> str:
        clone(*args)
        raise TaskTimeout("cloning: the task did not finish within 600 s; it may still complete")

    vc.gateway.vms.clone_for_drill = timed_out  # type: ignore[method-assign]
    (row,) = j.drills(drill(vc, j, clock, ["db-01"]))
    assert row.state == "failed" and "did not finish" in row.error and copies(vc) == [] and row.cleaned == 1


def test_a_copy_that_cannot_be_deleted_fails_the_drill_and_is_removed_at_the_next_start(
        vc: FakeVCenter, j: Journal, clock: Clock) -> None:
    vc.fail_next("destroy_drill_copy", VSphereFault("vCenter fault TaskInProgress", "TaskInProgress"))
    (row,) = j.drills(drill(vc, j, clock, ["db-01"]))
    assert row.state == "failed" and "was not removed" in row.error and row.cleaned == 0 and len(copies(vc)) == 1
    assert clean_up(tools(vc, j, clock), scan=False) == [f"{row.copy_name} ({row.copy})"] and copies(vc) == []
    assert j.drill(row.id).state == "failed", "a failed drill stays failed"


def _broken(vc: FakeVCenter) -> Any:
    clone = vc.gateway.vms.clone_for_drill

    def broken_clone(*args: Any) -> str:
        moref = clone(*args)
        vc.vms[moref].broken = True
        return moref

    return broken_clone
