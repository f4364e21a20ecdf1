"""End to end, on the faithful simulator: a host that dies with its local storage, its VMs started
from their replicas (the paper's replication mode); the host's return; a controller killed while it
starts replicas; a cluster whose vSphere HA restarts VMs itself.

Each test runs the real controller (`vsphere-dr once`, in process or as a subprocess) and asserts
what an operator cares about: each VM runs exactly once, nothing is deleted, nothing races HA.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim

from tests.chaos import chaos
from tests.sim_world import answers, example_topology_data, wait_until
from tests.test_recovery_live import P1_VMS, Lab, incidents, start_lab
from vsphere_dr.simulator import topology as topo

pytestmark = pytest.mark.live

EDGE_VMS = {"edge-01": "127.0.2.21", "edge-02": "127.0.2.22", "edge-03": "127.0.2.23"}  # on esx-e1's local disk
REPLICATION = {"enabled": "true", "hosts": "esx-d1.lab.local, esx-d2.lab.local", "datastores": "ds-dev"}


def replicated(lab: Lab) -> None:
    """A snapshot round and a replica round, as cron or `run` would have made them before the failure."""
    lab.configure(replication=REPLICATION)
    assert lab.once("--module", "snapshot_creator") == 0
    assert lab.once("--module", "replica_creator") == 0


def running_at(lab: Lab, ip: str) -> list[Any]:
    """The VMs vCenter shows running at ``ip`` on a connected host (a dead host's show their last state)."""
    return [vm for vm in lab.vc.every(vim.VirtualMachine) if vm.guest.ipAddress == ip and vm.runtime.powerState == "poweredOn"
            and vm.runtime.host.runtime.connectionState == "connected"]


@pytest.fixture
def lab(vcsim_binary: Path, tmp_path: Path) -> Iterator[Lab]:
    yield from start_lab(vcsim_binary, tmp_path)


def test_host_dead_with_its_local_storage_each_vm_runs_once_from_its_replica_and_its_return_deletes_nothing(
        lab: Lab) -> None:
    replicated(lab)
    chaos(lab.sim, "host_down", "esx-e1.lab.local")
    assert lab.once() == 0
    for name, ip in EDGE_VMS.items():
        (running,) = running_at(lab, ip)
        assert running.name.startswith(f"{name}-replica-") and running.runtime.host.name != "esx-e1.lab.local"
        assert answers(ip, lab.port)
        assert not running.config.annotation.startswith("vsphere-dr replica of"), "the protected VM now"
    chaos(lab.sim, "host_up", "esx-e1.lab.local")
    wait_until(lambda: lab.vc.host("esx-e1.lab.local").runtime.connectionState == "connected")
    assert lab.once() == 0 and lab.once() == 0
    for name, ip in EDGE_VMS.items():
        assert len(running_at(lab, ip)) == 1, "never two running copies"
        assert lab.vc.vm(name).runtime.powerState == "poweredOff", "the original is kept off, and kept"


def test_controller_killed_while_starting_replicas_each_vm_runs_once_after_restart(vcsim_binary: Path,
                                                                                  tmp_path: Path) -> None:
    for lab in start_lab(vcsim_binary, tmp_path, extra_args=("-method-delay", "ReconfigVM_Task=1500")):
        replicated(lab)
        chaos(lab.sim, "host_down", "esx-e1.lab.local")
        command = lab.once_command()
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: any(a.kind == "start_replica" and a.step for a in lab.journal().actions()),
                       timeout=60, interval=0.05)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert [a for a in lab.journal().actions() if a.state in ("intended", "running")], "killed mid-recovery"
        second = subprocess.run(command, timeout=120, capture_output=True, text=True)
        assert second.returncode == 0, second.stderr
        for ip in EDGE_VMS.values():
            assert len(running_at(lab, ip)) == 1, second.stderr
        assert {a.state for a in lab.journal().actions() if a.kind == "start_replica"} == {"done"}


def test_a_cluster_whose_vsphere_ha_restarts_vms_is_left_to_ha(vcsim_binary: Path, tmp_path: Path) -> None:
    data = example_topology_data()
    prod = next(c for c in data["datacenters"][0]["clusters"] if c["name"] == "cl-prod")
    prod["ha"] = {"enabled": True, "host_monitoring": "enabled"}
    for lab in start_lab(vcsim_binary, tmp_path, data):
        chaos(lab.sim, "host_down", "esx-p1.lab.local")
        assert lab.once() == 0
        assert lab.journal().actions() == [], "nothing changed: HA fails the VMs over"
        assert lab.has_host("esx-p1.lab.local") and all(lab.host_of(name) == "esx-p1.lab.local" for name in P1_VMS)
        assert {i.vm_name for i in incidents(lab) if i.state == "open"} == set(P1_VMS)
        assert all("vSphere HA" in i.cause for i in incidents(lab))


def running_copies(lab: Lab) -> dict[str, list[str]]:
    """Each guest address -> the hosts of the VMs running with it on a connected host."""
    found: dict[str, list[str]] = {}
    for vm in lab.vc.every(vim.VirtualMachine):
        host = vm.runtime.host
        if vm.runtime.powerState == "poweredOn" and host.runtime.connectionState == "connected":
            found.setdefault(vm.guest.ipAddress, []).append(host.name)
    return found


def test_controller_killed_in_the_middle_of_a_parallel_recovery_each_vm_runs_once_on_a_healthy_host(
        vcsim_binary: Path, tmp_path: Path) -> None:
    world = topo.generate(clusters=1, hosts_per_cluster=3, vms_per_host=16)
    failed = "esx-00-00.bench.local"
    ips = [vm["ip"] for vm in world.data["datacenters"][0]["clusters"][0]["hosts"][0]["vms"]]
    for lab in start_lab(vcsim_binary, tmp_path, world.data, extra_args=("-method-delay", "RegisterVM_Task=1500")):
        chaos(lab.sim, "host_down", failed)
        command = lab.once_command()
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: sum(a.kind == "register_elsewhere" for a in lab.journal().actions()) >= 6,
                       timeout=60, interval=0.05)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        unfinished = [a for a in lab.journal().actions() if a.state in ("intended", "running")]
        assert len(unfinished) >= 6, "killed with several registrations under way at once"
        second = subprocess.run(command, timeout=300, capture_output=True, text=True)
        assert second.returncode == 0, second.stderr
        copies = running_copies(lab)
        for ip in ips:
            hosts = copies.get(ip, [])
            assert len(hosts) == 1 and hosts[0] != failed, (ip, hosts, second.stderr[-2000:])
            assert answers(ip, lab.port)
        assert {a.state for a in lab.journal().actions()} == {"done"}
