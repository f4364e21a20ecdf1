"""The Snapshot Creator on the simulator: rotation keeps N, never zero, and a person's snapshots.

The module runs for real (through the Controller, or `vsphere-dr once` as cron runs it) against a
simulator of its own; the test acts as a person with pyVmomi and reads what vCenter then shows.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modules.inventory_administrator import InventoryAdministrator
from tests.chaos import chaos
from tests.sim_world import Client, example_topology_data, own_simulator, run_task, snapshot_names, write_topology
from vsphere_dr.app.module_registry import PAUSABLE
from vsphere_dr.app.controller import Controller
from vsphere_dr.journal import Journal
from vsphere_dr.simulator.launcher import Simulator
from vsphere_dr.simulator.topology import Topology

pytestmark = pytest.mark.live

PREFIX = "vsphere-dr"
BACKING_VM = "nested-esx-d2"  # runs the nested host esx-d2: the vHost creator's, not ours
VHOST_BACKING = {"vhost_backing": f"esx-d2.lab.local = {BACKING_VM}"}


@pytest.fixture
def own(vcsim_binary: Path, tmp_path: Path) -> Iterator[Simulator]:
    topology = write_topology(tmp_path, example_topology_data())
    with own_simulator(vcsim_binary, topology, ["-probes=false"]) as sim:
        yield sim


@pytest.fixture
def targets(example_topology: Topology) -> list[str]:
    """The VMs the Snapshot Creator looks after: those with an IP, except a vHost's backing VM."""
    return sorted(vm.name for vm in example_topology.vms() if vm.ip and vm.name != BACKING_VM)


def ours(names: list[str]) -> list[str]:
    """This tool's snapshots: the prefix followed by a timestamp (vsphere_dr.snapshot_rotation)."""
    return [n for n in names if n.startswith(PREFIX + "-") and n.removeprefix(PREFIX + "-")[:8].isdigit()]


def controller(settings: Path) -> Controller:
    return Controller(InventoryAdministrator(settings, PAUSABLE))


def test_rotation_keeps_n_never_zero_and_leaves_a_person_s_snapshots(
        own: Simulator, vc: Client, write_settings, targets: list[str]) -> None:  # type: ignore[no-untyped-def]
    keep = 2
    # A person's snapshot, named with the tool's prefix but not in its format: still not ours.
    run_task(vc.vm("web-01").CreateSnapshot_Task(f"{PREFIX}-before-upgrade", "by hand", False, False))
    people = {name: [n for n in snapshot_names(vc.vm(name)) if n not in ours(snapshot_names(vc.vm(name)))]
              for name in targets}
    assert f"{PREFIX}-before-upgrade" in people["web-01"] and "baseline" in people["db-01"]
    ctl = controller(write_settings(own.host, own.port, snapshots={"keep": keep}, inventory=VHOST_BACKING))
    try:
        for round_ in range(1, keep + 3):
            started = time.time()
            assert ctl.run_module("snapshot_creator") is None
            created = {a.vm_name: a.params["name"] for a in ctl.journal.actions(since=started)}
            assert sorted(created) == targets and {a.state for a in ctl.journal.actions(since=started)} == {"done"}
            for name in targets:
                names = snapshot_names(vc.vm(name))
                assert len(ours(names)) == min(round_, keep), (name, names)
                assert ours(names)[-1] == created[name]  # the newest one is this round's
                assert [n for n in names if n not in ours(names)] == people[name]
            assert BACKING_VM not in created and not ours(snapshot_names(vc.vm(BACKING_VM)))
        rpo = {row.vm_name: time.time() - row.newest_at for row in ctl.journal.snapshot_status()}
        assert sorted(rpo) == targets and max(rpo.values()) < 60
    finally:
        ctl.close()


def test_a_snapshot_fault_on_one_vm_does_not_stop_the_others(
        own: Simulator, vc: Client, write_settings, targets: list[str]) -> None:  # type: ignore[no-untyped-def]
    settings = write_settings(own.host, own.port, snapshots={"keep": 1}, inventory=VHOST_BACKING)
    assert once(settings).returncode == 0
    before = {name: ours(snapshot_names(vc.vm(name))) for name in targets}
    chaos(own, "task_fault", "web-02", fault="NoDiskSpace")
    time.sleep(1.1)  # a snapshot's name carries the second it was taken in: this round's differ

    started = time.time()
    result = once(settings)

    assert result.returncode == 1, result.stderr  # the round ended failed: cron mails it
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 2 and all("web-02" in e and "NoDiskSpace" in e for e in errors), errors
    for name in targets:
        now = ours(snapshot_names(vc.vm(name)))
        assert len(now) == 1  # keep = 1, and never zero: web-02 keeps the one it had
        assert (now == before[name]) == (name == "web-02"), name
    journal = Journal(settings.parent / "journal.sqlite")
    try:
        status = {row.vm_name: row for row in journal.snapshot_status()}
        assert "NoDiskSpace" in status["web-02"].last_error
        assert all(row.last_error == "" for name, row in status.items() if name != "web-02")
        assert status["web-02"].newest_at < started  # its RPO keeps growing, and shows it
        failed = [a for a in journal.actions(since=started) if a.state != "done"]
        assert [(a.vm_name, a.state) for a in failed] == [("web-02", "failed")]
        assert "NoDiskSpace" in failed[0].error
        run = journal.runs()["snapshot_creator"]
        assert run.outcome == "failed" and run.started_at >= started
        assert run.message.startswith(f"{len(targets) - 1} created, {len(targets) - 1} pruned, 0 skipped, 1 failed: "
                                      "web-02: creating snapshot: ")
    finally:
        journal.close()
    shown = status_of(settings)
    assert any(line.startswith("web-02 ") and "NoDiskSpace" in line for line in shown.splitlines())


def test_a_run_settles_only_its_own_unfinished_actions(
        own: Simulator, vc: Client, write_settings) -> None:  # type: ignore[no-untyped-def]
    """A stop in the middle leaves intents; the next run settles them against vCenter.

    The vHost creator's intents are left alone: they may be under way at this very moment (both
    modules start together), or be about VMs of another vCenter.
    """
    settings = write_settings(own.host, own.port, inventory=VHOST_BACKING)
    journal = Journal(settings.parent / "journal.sqlite")
    web01, web02, backing = (vc.vm(n) for n in ("web-01", "web-02", BACKING_VM))
    run_task(web01.CreateSnapshot_Task(f"{PREFIX}-20260101T000000Z", "", False, False))
    made = journal.intend("snapshot", web01._moId, "web-01",
                          {"name": f"{PREFIX}-20260101T000000Z", "module": "snapshot_creator"}, "test")
    lost = journal.intend("snapshot", web02._moId, "web-02",
                          {"name": f"{PREFIX}-20260101T000001Z", "module": "snapshot_creator"}, "test")
    other = journal.intend("snapshot", backing._moId, BACKING_VM,
                           {"name": f"{PREFIX}-20260101T000002Z", "module": "snapshot_creator_vhost"}, "test")
    journal.close()
    ctl = controller(settings)
    try:
        assert ctl.run_module("snapshot_creator") is None
        assert ctl.journal.action(made).state == "done"
        assert ctl.journal.action(lost).state == "abandoned"
        assert ctl.journal.action(other).state == "intended"
    finally:
        ctl.close()


def once(settings: Path, module: str = "snapshot_creator") -> subprocess.CompletedProcess[str]:
    """`vsphere-dr once --module MODULE`, as a crontab line runs it."""
    return subprocess.run([sys.executable, "-m", "vsphere_dr.app", "--config", str(settings), "once",
                           "--module", module], capture_output=True, text=True, timeout=120)


def status_of(settings: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "vsphere_dr.app", "--config", str(settings), "status"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout
