"""Where the bundled simulator puts a clone or a relocated VM, driven through pyVmomi as a client would.

vCenter places a clone where ``CloneSpec.location`` says (host, pool, datastore), powers it on if
``powerOn``, and refuses a place it cannot use; ``RelocateVM_Task`` moves the VM's files and its place in
the hosts' lists (docs/simulator.md, "Placement").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim, vmodl

from tests.sim_world import Client, answers, client, example_topology_data, own_simulator, probe_port, run_task, \
    write_topology
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live

P1, P2, P3, D1, E1 = "esx-p1.lab.local", "esx-p2.lab.local", "esx-p3.lab.local", "esx-d1.lab.local", "esx-e1.lab.local"


@pytest.fixture(scope="module")
def lab(vcsim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, int]]:
    """One simulator for the module: each test clones or moves VMs of its own."""
    topology = write_topology(tmp_path_factory.mktemp("sim"), example_topology_data())
    with own_simulator(vcsim_binary, topology) as sim:
        yield sim, probe_port(topology)


@pytest.fixture
def vc(lab: tuple[Simulator, int]) -> Iterator[Client]:
    with client(lab[0]) as c:
        yield c


def datastore(host: vim.HostSystem, name: str) -> vim.Datastore:
    (ds,) = [ds for ds in host.datastore if ds.name == name]
    return ds


def disk_files(vm: vim.VirtualMachine) -> list[str]:
    return [d.backing.fileName for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]


def clone(vc: Client, source: str, name: str, **location: Any) -> vim.VirtualMachine:
    vm = vc.vm(source)
    power_on = location.pop("power_on", False)
    spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(**location), powerOn=power_on, template=False)
    return run_task(vm.CloneVM_Task(folder=vm.parent, name=name, spec=spec))


def vm_names(vc: Client) -> set[str]:
    return {vm.name for vm in vc.every(vim.VirtualMachine)}


def test_a_clone_lands_on_the_requested_host_pool_and_datastore(vc: Client) -> None:
    p2 = vc.host(P2)
    copy = clone(vc, "web-01", "web-01-on-p2", host=p2, pool=p2.parent.resourcePool, datastore=datastore(p2, "ds-prod"))
    assert copy.runtime.host.name == P2 and copy.resourcePool == p2.parent.resourcePool
    assert copy.config.files.vmPathName == "[ds-prod] web-01-on-p2/web-01-on-p2.vmx"
    assert [d.name for d in copy.datastore] == ["ds-prod"]
    assert disk_files(copy) == ["[ds-prod] web-01-on-p2/web-01-on-p2.vmdk"]
    assert copy.runtime.powerState == "poweredOff"  # powerOn was false
    assert "web-01-on-p2" in [vm.name for vm in p2.vm] and "web-01-on-p2" not in [vm.name for vm in vc.host(P1).vm]
    assert disk_files(vc.vm("web-01")) == ["[ds-prod] web-01/web-01.vmdk"], "the source keeps its own disk"


def test_a_clone_goes_to_another_cluster_and_its_datastore(vc: Client) -> None:
    d1 = vc.host(D1)
    copy = clone(vc, "web-01", "web-01-on-d1", host=d1, pool=d1.parent.resourcePool, datastore=datastore(d1, "ds-dev"))
    assert copy.runtime.host.name == D1 and copy.resourcePool == d1.parent.resourcePool
    assert copy.config.files.vmPathName.startswith("[ds-dev] web-01-on-d1/")
    assert [d.name for d in copy.datastore] == ["ds-dev"] and disk_files(copy)[0].startswith("[ds-dev] ")
    assert "web-01-on-d1" in [vm.name for vm in datastore(d1, "ds-dev").vm]


def test_a_pool_alone_picks_its_standalone_host(vc: Client) -> None:
    e1 = vc.host(E1)
    copy = clone(vc, "edge-01", "edge-01-copy", pool=e1.parent.resourcePool)
    assert copy.runtime.host.name == E1 and copy.config.files.vmPathName.startswith("[ds-edge-local] ")


def test_a_clone_asked_to_power_on_runs_and_answers_for_its_source_s_address(vc: Client,
                                                                             lab: tuple[Simulator, int]) -> None:
    port = lab[1]
    run_task(vc.vm("web-02").PowerOffVM_Task())
    assert not answers("127.0.2.2", port)
    p3 = vc.host(P3)
    copy = clone(vc, "web-02", "web-02-running", host=p3, pool=p3.parent.resourcePool, power_on=True)
    assert copy.runtime.powerState == "poweredOn" and copy.runtime.host.name == P3
    assert copy.guest.ipAddress == "127.0.2.2" and answers("127.0.2.2", port)
    assert copy.guestHeartbeatStatus == "green"


def test_a_datastore_the_host_does_not_mount_is_refused(vc: Client) -> None:
    p2 = vc.host(P2)
    local = datastore(vc.host(E1), "ds-edge-local")
    with pytest.raises(vim.fault.InvalidDatastore) as refused:
        clone(vc, "web-01", "web-01-nowhere", host=p2, pool=p2.parent.resourcePool, datastore=local)
    assert refused.value.name == "ds-edge-local" and refused.value.datastore == local
    assert "web-01-nowhere" not in vm_names(vc)
    assert vc.vm("web-01").runtime.host.name == P1, "the connection is still up"


def test_the_default_datastore_must_be_mounted_too(vc: Client) -> None:
    d1 = vc.host(D1)  # web-01's files are on ds-prod, which esx-d1 does not mount
    with pytest.raises(vim.fault.InvalidDatastore) as refused:
        clone(vc, "web-01", "web-01-no-ds", host=d1, pool=d1.parent.resourcePool)
    assert refused.value.name == "ds-prod"


def test_a_host_outside_the_pool_s_compute_resource_is_refused(vc: Client) -> None:
    with pytest.raises(vmodl.fault.InvalidArgument) as refused:
        clone(vc, "web-01", "web-01-mismatch", host=vc.host(D1))  # the pool stays web-01's, in cl-prod
    assert refused.value.invalidProperty == "spec.location.pool"
    assert "web-01-mismatch" not in vm_names(vc)


def test_a_clone_from_another_vm_s_snapshot_is_refused(vc: Client) -> None:
    """spec.snapshot is a snapshot of the source to base the clone on; another VM's is refused with
    InvalidArgument naming spec.snapshot, and no clone is made. The source's own is taken."""
    source = vc.vm("web-01")
    spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(), powerOn=False, template=False,
                            snapshot=vc.vm("web-02").snapshot.currentSnapshot)
    with pytest.raises(vmodl.fault.InvalidArgument) as refused:
        run_task(source.CloneVM_Task(folder=source.parent, name="web-01-from-web-02", spec=spec))
    assert refused.value.invalidProperty == "spec.snapshot"
    assert "web-01-from-web-02" not in vm_names(vc)
    spec.snapshot = source.snapshot.currentSnapshot
    assert run_task(source.CloneVM_Task(folder=source.parent, name="web-01-from-baseline", spec=spec)).name == \
        "web-01-from-baseline"


def test_relocation_moves_the_files_and_the_host_lists(vc: Client, lab: tuple[Simulator, int]) -> None:
    edge = vc.vm("edge-02")
    run_task(edge.PowerOffVM_Task())
    p3, e1 = vc.host(P3), vc.host(E1)
    prod, local = datastore(p3, "ds-prod"), datastore(e1, "ds-edge-local")
    run_task(edge.RelocateVM_Task(vim.vm.RelocateSpec(host=p3, pool=p3.parent.resourcePool, datastore=prod)))
    assert edge.runtime.host.name == P3 and edge.resourcePool == p3.parent.resourcePool
    assert edge.config.files.vmPathName == "[ds-prod] edge-02/edge-02.vmx"
    assert edge.summary.config.vmPathName == edge.config.files.vmPathName
    assert [d.name for d in edge.datastore] == ["ds-prod"] and disk_files(edge) == ["[ds-prod] edge-02/edge-02.vmdk"]
    assert all(f.name.startswith("[ds-prod] ") for f in edge.layoutEx.file)
    assert all(name.startswith("[ds-prod] ") for disk in edge.layout.disk for name in disk.diskFile)
    assert "edge-02" in [vm.name for vm in p3.vm] and "edge-02" not in [vm.name for vm in e1.vm]
    assert "edge-02" in [vm.name for vm in prod.vm] and "edge-02" not in [vm.name for vm in local.vm]
    run_task(edge.PowerOnVM_Task())
    assert edge.guestHeartbeatStatus == "green" and answers("127.0.2.22", lab[1])
    run_task(edge.snapshot.rootSnapshotList[0].snapshot.RevertToSnapshot_Task())
    assert disk_files(edge) == ["[ds-prod] edge-02/edge-02.vmdk"], "its snapshot moved with it"


def test_relocation_to_a_datastore_the_host_cannot_see_is_refused(vc: Client) -> None:
    p2, local = vc.host(P2), datastore(vc.host(E1), "ds-edge-local")
    app = vc.vm("app-01")
    with pytest.raises(vim.fault.InvalidDatastore):
        run_task(app.RelocateVM_Task(vim.vm.RelocateSpec(host=p2, datastore=local)))
    assert app.config.files.vmPathName == "[ds-prod] app-01/app-01.vmx" and app.runtime.host.name == P2


def test_relocation_to_a_host_of_another_cluster_needs_its_pool(vc: Client) -> None:
    dev = vc.vm("dev-02")
    with pytest.raises(vmodl.fault.InvalidArgument) as refused:
        run_task(dev.RelocateVM_Task(vim.vm.RelocateSpec(host=vc.host(P2))))
    assert refused.value.invalidProperty == "spec.pool"
    assert dev.runtime.host.name == D1
