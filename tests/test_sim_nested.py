"""Nested ESXi hosts in the bundled simulator: a host whose backing VM stops goes down, and comes
back a boot delay after the VM runs again (in the same simulator, or in a second "admin" one)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim

from tests.chaos import chaos
from tests.sim_world import (Client, answers, client, example_topology_data, own_simulator, probe_port, run_task,
                             wait_until, write_topology)
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live

D2, D2_IP, BACKING = "esx-d2.lab.local", "127.0.1.22", "nested-esx-d2"
D2_VMS = {"dev-03": "127.0.2.18", "ci-02": "127.0.2.19", "test-01": "127.0.2.20"}
MGMT = "esx-mgmt1.lab.local"


def boot_seconds() -> int:
    for cluster in example_topology_data()["datacenters"][0]["clusters"]:
        for host in cluster["hosts"]:
            if host["name"] == D2:
                assert host["backing_vm"] == BACKING
                return int(host["boot_seconds"])
    raise AssertionError(f"{D2} is not in the example topology")


def assert_down(own: Simulator, vc: Client, port: int, reason: str) -> None:
    assert vc.host(D2).runtime.connectionState == "notResponding"
    assert all(vc.vm(name).runtime.connectionState == "disconnected" for name in D2_VMS)
    assert not answers(D2_IP, port) and not any(answers(ip, port) for ip in D2_VMS.values())
    assert chaos(own, "host_up", D2)["down_reasons"] == [reason]  # host_up cannot override the VM


def assert_up(vc: Client, port: int) -> None:
    assert vc.host(D2).runtime.connectionState == "connected"
    assert all(vc.vm(name).runtime.connectionState == "connected" for name in D2_VMS)
    assert answers(D2_IP, port) and all(answers(ip, port) for ip in D2_VMS.values())


def boot(own: Simulator, vc: Client, port: int, backing: vim.VirtualMachine) -> float:
    """Revert the backing VM to its snapshot, power it on and return how long the host took to come back."""
    run_task(backing.snapshot.rootSnapshotList[0].snapshot.RevertToSnapshot_Task())
    started = time.monotonic()
    run_task(backing.PowerOnVM_Task())
    assert chaos(own, "host_up", D2)["down_reasons"] == ["booting"]
    wait_until(lambda: vc.host(D2).runtime.connectionState == "connected", timeout=boot_seconds() + 5)
    took = time.monotonic() - started
    assert_up(vc, port)
    return took


def test_backing_vm_off_takes_the_host_down_until_reverted_and_booted(own: Simulator, vc: Client, topology: Path) -> None:
    port, host, backing = probe_port(topology), vc.host(D2), vc.vm(BACKING)
    assert_up(vc, port)
    assert backing.runtime.host.name == MGMT  # not on the host it backs
    run_task(backing.PowerOffVM_Task())
    assert_down(own, vc, port, "backing_vm_not_running")
    with pytest.raises(vim.fault.NoHost):
        run_task(host.ReconnectHost_Task())
    assert boot(own, vc, port, backing) >= boot_seconds() - 0.5


def test_a_crashed_backing_vm_takes_the_host_down(own: Simulator, vc: Client, topology: Path) -> None:
    port, backing = probe_port(topology), vc.vm(BACKING)
    chaos(own, "vm_crash", BACKING)
    assert_down(own, vc, port, "backing_vm_not_running")
    assert backing.runtime.powerState == "poweredOn"
    boot(own, vc, port, backing)  # reverting powers the crashed VM off first


def test_the_management_host_failing_takes_the_nested_host_down(own: Simulator, vc: Client, topology: Path) -> None:
    port = probe_port(topology)
    chaos(own, "host_down", MGMT)
    assert_down(own, vc, port, "backing_vm_not_running")
    chaos(own, "host_up", MGMT)
    # A power loss: the management host boots without its VMs, so the nested host's VM is off
    # and the nested host stays down until someone starts that VM.
    assert vc.vm(BACKING).runtime.powerState == "poweredOff"
    assert chaos(own, "host_up", D2)["down_reasons"] == ["backing_vm_not_running"]
    boot(own, vc, port, vc.vm(BACKING))


def admin_and_main_topologies(tmp_path: Path) -> tuple[Path, Path]:
    def host(name: str, ip: str, vms: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"name": name, "ip": ip, "cpu_mhz": 8000, "memory_mb": 32768, **extra, "vms": vms}

    def vm(name: str, datastore: str, ip: str | None = None) -> dict[str, Any]:
        spec = {"name": name, "power": "poweredOn", "cpus": 2, "memory_mb": 4096, "datastore": datastore,
                "snapshots": ["baseline"]}
        return {**spec, "ip": ip} if ip else spec

    admin = {"datacenters": [{"name": "dc-admin", "datastores": [{"name": "ds-admin", "hosts": ["esx-admin.lab.local"]}],
                              "clusters": [{"name": "cl-admin", "hosts": [
                                  host("esx-admin.lab.local", "127.0.3.1", [vm("nested-esx-x1", "ds-admin")])]}]}]}
    main = {"datacenters": [{"name": "dc-main", "datastores": [{"name": "ds-x", "hosts": ["esx-x1.lab.local"]}],
                             "clusters": [{"name": "cl-x", "hosts": [
                                 host("esx-x1.lab.local", "127.0.3.11", [vm("app-x1", "ds-x", "127.0.3.21")],
                                      backing_vm="nested-esx-x1", boot_seconds=1)]}]}]}
    return write_topology(tmp_path, admin, "admin.json"), write_topology(tmp_path, main, "main.json")


def test_backing_vm_in_an_admin_simulator(vcsim_binary: Path, tmp_path: Path) -> None:
    admin_topology, main_topology = admin_and_main_topologies(tmp_path)
    port = probe_port(main_topology)
    with own_simulator(vcsim_binary, admin_topology) as admin, \
            own_simulator(vcsim_binary, main_topology, ["-admin-url", admin.url]) as main, \
            client(admin) as admin_vc, client(main) as main_vc:
        host, app, backing = main_vc.host("esx-x1.lab.local"), main_vc.vm("app-x1"), admin_vc.vm("nested-esx-x1")
        assert host.runtime.connectionState == "connected" and answers("127.0.3.21", port)

        run_task(backing.PowerOffVM_Task())
        wait_until(lambda: host.runtime.connectionState == "notResponding", timeout=5)
        assert app.runtime.connectionState == "disconnected" and not answers("127.0.3.21", port)

        run_task(backing.RevertToCurrentSnapshot_Task())
        started = time.monotonic()
        run_task(backing.PowerOnVM_Task())
        wait_until(lambda: host.runtime.connectionState == "connected", timeout=5)
        assert time.monotonic() - started >= 0.9  # boot_seconds = 1
        assert app.runtime.connectionState == "connected" and answers("127.0.3.21", port)


def test_a_remote_backing_vm_needs_admin_url(vcsim_binary: Path, tmp_path: Path) -> None:
    _, main_topology = admin_and_main_topologies(tmp_path)
    result = subprocess.run([str(vcsim_binary), "-topology", str(main_topology)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert 'backing_vm "nested-esx-x1" is not a VM of this topology; give -admin-url' in result.stderr
