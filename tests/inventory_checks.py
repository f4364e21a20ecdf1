"""Assertions that an Inventory read from vCenter matches the topology the simulator was built from."""

from __future__ import annotations

from vsphere_dr.records import Inventory
from vsphere_dr.simulator.topology import Topology


def assert_matches_topology(inv: Inventory, topology: Topology) -> None:
    hosts = {h.name: h for h in inv.hosts.values()}
    expected_hosts = {h.name: h for h in topology.hosts()}
    assert set(hosts) == set(expected_hosts)
    for name, want in expected_hosts.items():
        got = hosts[name]
        assert (got.datacenter, got.cluster, got.address) == (want.datacenter, want.cluster, want.ip), name
        assert got.connection_state == "connected" and not got.in_maintenance
        assert got.memory_mb_total == want.spec["memory_mb"]
    datastores = {d.name: {inv.hosts[h].name for h in d.hosts} for d in inv.datastores.values()}
    assert datastores == topology.datastores()
    vms = {vm.name: vm for vm in inv.vms.values()}
    host_dc = {h.name: h.datacenter for h in topology.hosts()}
    assert set(vms) == {vm.name for vm in topology.vms()}
    for want in topology.vms():
        got = vms[want.name]
        assert inv.hosts[got.host].name == want.host, want.name
        assert got.ip == want.ip, want.name
        assert got.power_state == want.spec["power"], want.name
        assert (got.cpus, got.memory_mb) == (want.spec["cpus"], want.spec["memory_mb"]), want.name
        assert [inv.datastores[d].name for d in got.datastores] == [want.spec["datastore"]], want.name
        assert [s.name for s in got.snapshots] == want.spec["snapshots"], want.name
        # The simulator registers every VM in its datacenter's VM folder; none has a custom attribute.
        assert (got.folder_path, got.attributes) == (f"/{host_dc[want.host]}/vm", ()), want.name


def assert_monitoring_excludes_vms_without_ip(inv: Inventory, topology: Topology) -> None:
    with_ip = sorted(vm.name for vm in topology.vms() if vm.ip)
    without_ip = sorted(vm.name for vm in topology.vms() if not vm.ip)
    assert without_ip, "the topology must have VMs without an IP for this check to mean anything"
    assert [vm.name for vm in inv.monitored_vms()] == with_ip
    assert [vm.name for vm in inv.unmonitored_vms()] == without_ip
