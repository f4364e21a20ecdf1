"""A VM's files as vCenter and ESXi treat them (docs/simulator.md, "Files, locks and
registration"): a running VM's host locks them, registration and host removal work as in
vCenter, the moved-or-copied question, and datastores that follow the hosts that reach them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim, vmodl

from tests.chaos import chaos
from tests.sim_world import (Client, answers, client, example_topology_data, own_simulator, probe_port, run_task,
                             wait_until, write_topology)
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live

P1, P2, E1 = "esx-p1.lab.local", "esx-p2.lab.local", "esx-e1.lab.local"
WEB_01_PATH, WEB_01_IP = "[ds-prod] web-01/web-01.vmx", "127.0.2.1"
LEASE = 1.0  # lock_lease_seconds of the lab here


class Lab:
    def __init__(self, sim: Simulator, vc: Client, port: int) -> None:
        self.sim, self.vc, self.port = sim, vc, port

    def register(self, path: str, name: str, host: str | None = None, pool_of: str = P2) -> vim.VirtualMachine:
        """RegisterVM_Task as a client calls it: into the datacenter's VM folder, in the root pool of
        ``pool_of``'s cluster, on ``host`` (vCenter picks one if None)."""
        pool = self.vc.host(pool_of).parent.resourcePool
        target = self.vc.host(host) if host else None
        return run_task(self.folder().RegisterVM_Task(path=path, name=name, asTemplate=False, pool=pool, host=target))

    def folder(self) -> vim.Folder:
        return self.vc.content.rootFolder.childEntity[0].vmFolder

    def remove_host(self, name: str) -> None:
        """What a person does with a host that does not answer: disconnect it, then remove it."""
        host = self.vc.host(name)
        run_task(host.DisconnectHost_Task())
        run_task(host.Destroy_Task())


@pytest.fixture
def lab(vcsim_binary: Path, tmp_path: Path) -> Iterator[Lab]:
    topology = write_topology(tmp_path, example_topology_data() | {"lock_lease_seconds": int(LEASE)})
    with own_simulator(vcsim_binary, topology) as sim, client(sim) as vc:
        yield Lab(sim, vc, probe_port(topology))


def answer(vm: vim.VirtualMachine, choice: str) -> None:
    question = wait_until(lambda: vm.runtime.question, timeout=5, interval=0.05)
    assert question.message[0].id == "msg.uuid.altered"
    assert [c.key for c in question.choice.choiceInfo] == ["button.uuid.cancel", "button.uuid.movedTheVM",
                                                           "button.uuid.copiedTheVM"]
    vm.AnswerVM(question.id, choice)


def power_on_answering(vm: vim.VirtualMachine, choice: str) -> Any:
    """Power on and answer the moved-or-copied question; returns the task (finished)."""
    task = vm.PowerOnVM_Task()
    assert task.info.state == "running", "the power-on waits for the answer"
    answer(vm, choice)
    wait_until(lambda: task.info.state in ("success", "error"), timeout=5, interval=0.05)
    return task


def test_an_isolated_host_keeps_its_vm_s_files_locked(lab: Lab) -> None:
    """Split brain fenced: the files of a VM that still runs on an isolated host cannot be powered
    on elsewhere, even once vCenter has forgotten the host; once the host loses power and the lease
    runs out, they can."""
    original = lab.vc.vm("web-01")
    uuid, instance_uuid = original.config.uuid, original.config.instanceUuid
    chaos(lab.sim, "host_isolate", P1)
    lab.remove_host(P1)
    assert answers(WEB_01_IP, lab.port), "the VM runs on, outside vCenter"

    copy = lab.register(WEB_01_PATH, "web-01", host=P2)
    assert (copy.runtime.host.name, copy.runtime.powerState) == (P2, "poweredOff")
    with pytest.raises(vim.fault.GenericVmConfigFault) as locked:
        run_task(copy.PowerOnVM_Task())
    assert locked.value.reason == "Failed to lock the file"
    assert "msg.fileio.lock" in [m.key for m in locked.value.faultMessage]

    chaos(lab.sim, "host_down", P1)  # now the power goes: the lock is no longer renewed
    assert not answers(WEB_01_IP, lab.port)
    with pytest.raises(vim.fault.GenericVmConfigFault):
        run_task(copy.PowerOnVM_Task())  # the lease has not run out yet
    time.sleep(LEASE + 0.2)
    task = power_on_answering(copy, "button.uuid.movedTheVM")
    assert task.info.state == "success" and copy.runtime.powerState == "poweredOn"
    assert (copy.config.uuid, copy.config.instanceUuid) == (uuid, instance_uuid), "I moved it keeps the UUIDs"
    assert answers(WEB_01_IP, lab.port)


def test_a_host_that_lost_power_releases_its_locks_after_the_lease(lab: Lab) -> None:
    original = lab.vc.vm("web-02")
    path, cpus = original.config.files.vmPathName, original.config.hardware.numCPU
    uuid, instance_uuid = original.config.uuid, original.config.instanceUuid
    chaos(lab.sim, "host_down", P1)
    with pytest.raises(vim.fault.InvalidPowerState):
        original.UnregisterVM()  # vCenter still shows it powered on
    lab.remove_host(P1)
    with pytest.raises(vim.fault.AlreadyExists):  # a path still registered
        lab.register(lab.vc.vm("web-03").config.files.vmPathName, "web-03-again", host=P2)
    copy = lab.register(path, "web-02")  # vCenter picks a connected host of the cluster
    assert copy.runtime.host.name in (P2, "esx-p3.lab.local")
    assert (copy.config.hardware.numCPU, copy.config.uuid, copy.guest.ipAddress) == (cpus, uuid, "127.0.2.2")
    time.sleep(LEASE + 0.2)
    task = power_on_answering(copy, "button.uuid.copiedTheVM")
    assert task.info.state == "success"
    assert copy.config.uuid != uuid and copy.config.instanceUuid != instance_uuid, "I copied it: new UUIDs"


def test_cancelling_the_question_fails_the_power_on(lab: Lab) -> None:
    web = lab.vc.vm("web-01")
    run_task(web.PowerOffVM_Task())
    web.UnregisterVM()
    copy = lab.register(WEB_01_PATH, "web-01", host=P2)
    task = power_on_answering(copy, "button.uuid.cancel")
    assert task.info.state == "error" and copy.runtime.powerState == "poweredOff"
    with pytest.raises(vim.fault.ConcurrentAccess):
        copy.AnswerVM("_vmx1", "button.uuid.movedTheVM")  # answered already


def test_a_registration_on_the_same_host_asks_nothing(lab: Lab) -> None:
    web = lab.vc.vm("web-01")
    run_task(web.PowerOffVM_Task())
    web.UnregisterVM()
    again = lab.register(WEB_01_PATH, "web-01", host=P1, pool_of=P1)
    run_task(again.PowerOnVM_Task())
    assert again.runtime.question is None and answers(WEB_01_IP, lab.port)


def nodes(vm: vim.VirtualMachine) -> list[tuple[Any, str | None]]:
    """Every snapshot's tree node with its parent's name, parents first."""
    found: list[tuple[Any, str | None]] = []
    level = [(tree, None) for tree in vm.snapshot.rootSnapshotList]
    while level:
        found.extend(level)
        level = [(child, tree.name) for tree, _ in level for child in tree.childSnapshotList]
    return found


def snapshot_tree(vm: vim.VirtualMachine) -> list[tuple[str, str, Any, str | None]]:
    """Every snapshot as (name, description, creation time, parent's name), parents first."""
    return [(tree.name, tree.description, tree.createTime, parent) for tree, parent in nodes(vm)]


def snapshots(vm: vim.VirtualMachine) -> dict[str, Any]:
    """The VM's snapshot objects by name."""
    return {tree.name: tree.snapshot for tree, _ in nodes(vm)}


def current_name(vm: vim.VirtualMachine) -> str:
    (name,) = [name for name, snap in snapshots(vm).items() if snap == vm.snapshot.currentSnapshot]
    return name


def test_a_vm_registered_again_has_its_snapshots_from_its_files(lab: Lab) -> None:
    """The .vmsd stays beside the .vmx: registered again, elsewhere, the VM has the same snapshot
    tree (names, descriptions, creation times, shape) and the same current snapshot, as new
    objects; the old registration's snapshots went with it."""
    web = lab.vc.vm("web-02")
    run_task(web.PowerOffVM_Task())
    run_task(web.CreateSnapshot_Task(name="before-patch", description="patch day", memory=False, quiesce=False))
    run_task(snapshots(web)["baseline"].RevertToSnapshot_Task())
    run_task(web.CreateSnapshot_Task(name="branch", description="", memory=False, quiesce=False))
    run_task(snapshots(web)["before-patch"].RevertToSnapshot_Task())  # current: not the newest
    tree, old = snapshot_tree(web), snapshots(web)
    assert [(name, parent) for name, _, _, parent in tree] == [
        ("baseline", None), ("before-patch", "baseline"), ("branch", "baseline")]
    path = web.config.files.vmPathName
    web.UnregisterVM()
    again = lab.register(path, "web-02", host=P2)
    assert snapshot_tree(again) == tree and current_name(again) == "before-patch"
    new = snapshots(again)
    assert not set(map(str, new.values())) & set(map(str, old.values())), "new snapshot objects"
    with pytest.raises(vmodl.fault.ManagedObjectNotFound):
        _ = old["branch"].config
    assert {s.key for s in again.layoutEx.snapshot} == set(new.values()), "each one's files are listed"
    run_task(new["branch"].RevertToSnapshot_Task())
    assert current_name(again) == "branch"
    run_task(again.CreateSnapshot_Task(name="after", description="", memory=False, quiesce=False))
    ids = [tree.id for tree, _ in nodes(again)]
    assert len(ids) == 4 and len(set(ids)) == 4, "a new snapshot's id is not one its files already have"


def test_a_destroyed_vm_s_snapshots_go_with_its_files(lab: Lab) -> None:
    """Destroy_Task deletes the VM's directory, .vmsd included: a .vmx put back at its path
    registers as a VM without the destroyed one's snapshots."""
    web = lab.vc.vm("web-01")
    run_task(web.PowerOffVM_Task())
    run_task(web.Destroy_Task())
    directory = Path(lab.vc.find(vim.Datastore, "ds-prod").info.url) / "web-01"
    assert not directory.exists()
    directory.mkdir()
    (directory / "web-01.vmx").write_text('displayName = "web-01"\n', encoding="utf-8")
    again = lab.register(WEB_01_PATH, "web-01", host=P2)
    assert again.snapshot is None


@pytest.mark.parametrize(("path", "host", "fault"), [
    ("[no-such-ds] x/x.vmx", P2, vim.fault.InvalidDatastore),
    ("[ds-prod] missing/missing.vmx", P2, vim.fault.NotFound),
    ("[ds-dev] dev-01/dev-01.vmx", P2, vim.fault.InvalidDatastore),  # P2 does not mount ds-dev
])
def test_registration_faults(lab: Lab, path: str, host: str, fault: type) -> None:
    if "dev-01" in path:
        dev = lab.vc.vm("dev-01")
        run_task(dev.PowerOffVM_Task())
        dev.UnregisterVM()
    with pytest.raises(fault):
        lab.register(path, "again", host=host)


def test_registration_on_a_host_that_is_not_connected(lab: Lab) -> None:
    web = lab.vc.vm("web-01")
    run_task(web.PowerOffVM_Task())
    web.UnregisterVM()
    chaos(lab.sim, "host_down", P2)
    with pytest.raises(vim.fault.InvalidHostState) as fault:
        lab.register(WEB_01_PATH, "web-01", host=P2)
    assert fault.value.host.name == P2


def test_the_datastores_of_a_dead_host(lab: Lab) -> None:
    """A datastore reads accessible while a host that mounts it is connected; a VM whose files are
    only on a dead host's local datastore can be registered nowhere."""
    edge_ds, prod_ds = lab.vc.find(vim.Datastore, "ds-edge-local"), lab.vc.find(vim.Datastore, "ds-prod")
    assert edge_ds.summary.accessible and prod_ds.summary.accessible
    chaos(lab.sim, "host_down", E1)
    chaos(lab.sim, "host_down", P1)
    assert not edge_ds.summary.accessible and [m.mountInfo.accessible for m in edge_ds.host] == [False]
    assert prod_ds.summary.accessible
    assert {m.key.name: m.mountInfo.accessible for m in prod_ds.host}[P1] is False
    edge = lab.vc.vm("edge-01")
    path = edge.config.files.vmPathName
    with pytest.raises(vmodl.fault.HostNotConnected):
        run_task(edge.PowerOnVM_Task())
    run_task(lab.vc.host(E1).DisconnectHost_Task())
    run_task(lab.vc.host(E1).parent.Destroy_Task())  # a standalone host goes with its ComputeResource
    assert [h.name for h in lab.vc.content.rootFolder.childEntity[0].hostFolder.childEntity] == ["cl-prod", "cl-dev",
                                                                                                 "cl-mgmt"]
    with pytest.raises(vim.fault.InvalidDatastore):  # InaccessibleDatastore
        lab.register(path, "edge-01", host=P2)
    chaos(lab.sim, "host_up", P1)
    assert {m.key.name: m.mountInfo.accessible for m in prod_ds.host}[P1] is True


def test_removing_a_host_vcenter_still_manages_needs_maintenance_mode(lab: Lab) -> None:
    p2 = lab.vc.host(P2)
    with pytest.raises(vim.fault.InvalidState):
        run_task(p2.Destroy_Task())
    assert lab.vc.vm("web-03").runtime.host.name == P2
    with pytest.raises(vmodl.fault.NotSupported):
        run_task(lab.vc.host(E1).Destroy_Task())  # standalone: destroy its ComputeResource


def test_a_removed_host_s_vms_leave_the_inventory_and_their_files_stay(lab: Lab) -> None:
    chaos(lab.sim, "host_down", P1)
    lab.remove_host(P1)
    names = {vm.name for vm in lab.folder().childEntity}
    assert not names & {"web-01", "web-02", "db-01", "cache-01", "scratch-01"}
    assert P1 not in [m.key.name for m in lab.vc.find(vim.Datastore, "ds-prod").host]
    assert len(lab.vc.events("VmRemovedEvent")) == 5 and lab.vc.events("HostRemovedEvent")
    time.sleep(LEASE + 0.2)
    copy = lab.register(WEB_01_PATH, "web-01", host=P2)  # the files are still there
    assert copy.guest.ipAddress == WEB_01_IP
    assert [name for name, *_ in snapshot_tree(copy)] == ["baseline"] and current_name(copy) == "baseline"
