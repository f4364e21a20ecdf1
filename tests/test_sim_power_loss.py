"""A failed host as vCenter shows it (docs/simulator.md, "Hosts"): its VMs refuse what needs the
host, host_down is a power loss, vCenter notices a silent host only after a delay, and an
isolated host's VMs run on.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pyVmomi import vim, vmodl

from tests.chaos import chaos, chaos_url
from tests.sim_world import (Client, answers, client, example_topology_data, own_simulator, probe_port, run_task,
                             wait_until, write_topology)
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live

P1, P1_IP, P2 = "esx-p1.lab.local", "127.0.1.11", "esx-p2.lab.local"
WEB_01_IP, WEB_02_IP = "127.0.2.1", "127.0.2.2"
P1_VMS = {"web-01": WEB_01_IP, "web-02": WEB_02_IP, "db-01": "127.0.2.3", "cache-01": "127.0.2.4"}
WEB_03_IP = "127.0.2.6"  # on esx-p2
DELAY = 1.0  # not_responding_after_seconds of the delayed lab


@pytest.fixture
def delayed(vcsim_binary: Path, tmp_path: Path) -> Iterator[tuple[Simulator, int]]:
    """The example lab where vCenter takes DELAY seconds to notice a silent host."""
    data = example_topology_data() | {"not_responding_after_seconds": int(DELAY)}
    topology = write_topology(tmp_path, data)
    with own_simulator(vcsim_binary, topology) as sim:
        yield sim, probe_port(topology)


def refused(vc: Client, vm: vim.VirtualMachine) -> dict[str, Callable[[], Any]]:
    """Every operation item 1 of issue 11 names, on ``vm``, as a client calls it."""
    p2 = vc.host(P2)
    snapshot = vm.snapshot.rootSnapshotList[0].snapshot
    spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(), powerOn=False, template=False)
    return {
        "power_off": lambda: run_task(vm.PowerOffVM_Task()),
        "power_on": lambda: run_task(vm.PowerOnVM_Task()),
        "reset": lambda: run_task(vm.ResetVM_Task()),
        "revert_current": lambda: run_task(vm.RevertToCurrentSnapshot_Task()),
        "revert": lambda: run_task(snapshot.RevertToSnapshot_Task()),
        "create_snapshot": lambda: run_task(vm.CreateSnapshot_Task(name="s", memory=False, quiesce=False)),
        "remove_snapshot": lambda: run_task(snapshot.RemoveSnapshot_Task(removeChildren=False)),
        "remove_all_snapshots": lambda: run_task(vm.RemoveAllSnapshots_Task()),
        "reconfigure": lambda: run_task(vm.ReconfigVM_Task(vim.vm.ConfigSpec(annotation="x"))),
        "shutdown_guest": vm.ShutdownGuest,
        "relocate": lambda: run_task(vm.RelocateVM_Task(vim.vm.RelocateSpec(host=p2, pool=p2.parent.resourcePool))),
        "clone": lambda: run_task(vm.CloneVM_Task(folder=vm.parent, name="web-01-copy", spec=spec)),
    }


def test_a_failed_host_s_vms_refuse_what_needs_the_host(own: Simulator, vc: Client) -> None:
    web = vc.vm("web-01")
    chaos(own, "host_down", P1)
    assert web.runtime.connectionState == "disconnected" and web.runtime.powerState == "poweredOn"
    for name, operation in refused(vc, web).items():
        expected = vim.fault.InvalidHostState if name in ("relocate", "clone") else vmodl.fault.HostNotConnected
        with pytest.raises(expected) as fault:
            operation()
        if expected is vim.fault.InvalidHostState:
            assert fault.value.host.name == P1, name
    assert web.runtime.powerState == "poweredOn" and len(web.snapshot.rootSnapshotList) == 1  # nothing happened
    assert not vc.vm("web-01").config.annotation
    assert [vm.name for vm in vc.content.rootFolder.childEntity[0].vmFolder.childEntity
            if vm.name == "web-01-copy"] == []


def test_a_user_disconnected_host_s_vms_refuse_them_too(own: Simulator, vc: Client) -> None:
    run_task(vc.host(P1).DisconnectHost_Task())
    with pytest.raises(vmodl.fault.HostNotConnected):
        run_task(vc.vm("web-01").PowerOffVM_Task())


def test_nothing_moves_onto_a_failed_host(own: Simulator, vc: Client) -> None:
    chaos(own, "host_down", P1)
    p1, web03 = vc.host(P1), vc.vm("web-03")
    with pytest.raises(vim.fault.InvalidHostState) as fault:
        run_task(web03.RelocateVM_Task(vim.vm.RelocateSpec(host=p1, pool=p1.parent.resourcePool)))
    assert fault.value.host.name == P1 and web03.runtime.host.name == P2
    spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(host=p1), powerOn=False, template=False)
    with pytest.raises(vim.fault.InvalidHostState):
        run_task(web03.CloneVM_Task(folder=web03.parent, name="web-03-copy", spec=spec))


def test_host_down_is_a_power_loss(own: Simulator, vc: Client, topology: Path) -> None:
    port, host, web = probe_port(topology), vc.host(P1), vc.vm("web-01")
    state = chaos(own, "host_down", P1)
    # The example lab notices at once.
    assert (state["target"], state["kind"], state["connection_state"]) == (P1, "host", "notResponding")
    assert state["alive"] is False and state["down_reasons"] == ["host_down"]
    assert {vm["name"] for vm in state["vms"]} == set(P1_VMS) | {"scratch-01"}
    assert all(vm["connection_state"] == "disconnected" and not vm["running"] and not vm["alive"]
               for vm in state["vms"])
    (entry,) = [vm for vm in state["vms"] if vm["name"] == "web-01"]
    assert (entry["power_state"], entry["running"], entry["alive"]) == ("poweredOn", False, False)
    assert host.runtime.connectionState == "notResponding"
    assert web.runtime.connectionState == "disconnected"
    assert web.runtime.powerState == "poweredOn"  # vCenter's last known state
    assert not answers(P1_IP, port) and not any(answers(ip, port) for ip in P1_VMS.values())
    assert answers(WEB_03_IP, port)  # other hosts are not affected
    lost = vc.events("HostConnectionLostEvent")
    assert [e.host.name for e in lost] == [P1] and lost[0].userName == ""

    state = chaos(own, "host_up", P1)
    assert state["connection_state"] == "connected" and state["alive"] and state["down_reasons"] == []
    assert host.runtime.connectionState == "connected"
    # The host rebooted without its VMs: vCenter reads them powered off, no one powered them off.
    assert web.runtime.connectionState == "connected" and web.runtime.powerState == "poweredOff"
    assert web.guestHeartbeatStatus == "gray"
    assert answers(P1_IP, port) and not any(answers(ip, port) for ip in P1_VMS.values())
    assert vc.events("VmPoweredOffEvent") == []
    run_task(web.PowerOnVM_Task())  # the files ran on this host: no question
    assert answers(WEB_01_IP, port)


def test_vcenter_notices_a_silent_host_after_the_delay(delayed: tuple[Simulator, int]) -> None:
    sim, port = delayed
    with client(sim) as vc:
        host, web = vc.host(P1), vc.vm("web-01")
        started = time.monotonic()
        state = chaos(sim, "host_down", P1)
        assert state["connection_state"] == "connected" and state["alive"] is False
        assert web.runtime.connectionState == "connected" and not answers(WEB_01_IP, port)
        with pytest.raises(vmodl.fault.HostNotReachable):  # vCenter tries, and cannot reach it
            run_task(web.PowerOffVM_Task())
        wait_until(lambda: host.runtime.connectionState == "notResponding", timeout=DELAY + 5, interval=0.05)
        assert time.monotonic() - started >= DELAY - 0.1
        assert web.runtime.connectionState == "disconnected"
        assert [e.host.name for e in vc.events("HostConnectionLostEvent")] == [P1]


def test_an_isolated_host_s_vms_run_on(delayed: tuple[Simulator, int]) -> None:
    sim, port = delayed
    with client(sim) as vc:
        host, web = vc.host(P1), vc.vm("web-01")
        state = chaos(sim, "host_isolate", P1)
        assert state["down_reasons"] == ["isolated"] and state["alive"] is False
        assert not answers(P1_IP, port) and answers(WEB_01_IP, port)  # management network only
        wait_until(lambda: host.runtime.connectionState == "notResponding", timeout=DELAY + 5, interval=0.05)
        assert web.runtime.connectionState == "disconnected" and web.runtime.powerState == "poweredOn"
        vms = chaos(sim, "host_isolate", P1)["vms"]
        assert all(vm["running"] and vm["alive"] for vm in vms if vm["name"] != "scratch-01")  # no IP: not alive
        with pytest.raises(vim.fault.NoHost):
            run_task(host.ReconnectHost_Task())

        state = chaos(sim, "host_rejoin", P1)
        assert state["connection_state"] == "connected" and state["down_reasons"] == []
        assert web.runtime.connectionState == "connected" and web.runtime.powerState == "poweredOn"
        assert answers(P1_IP, port) and answers(WEB_01_IP, port)


def test_isolation_with_the_vm_network(own: Simulator, vc: Client, topology: Path) -> None:
    port = probe_port(topology)
    state = chaos(own, "host_isolate", P1, vm_network=False)
    assert state["connection_state"] == "notResponding"
    assert not answers(WEB_01_IP, port) and not answers(WEB_02_IP, port)
    assert all(vm["running"] for vm in state["vms"])  # silent, yet running: they hold their locks
    chaos(own, "host_rejoin", P1)
    assert answers(WEB_01_IP, port) and vc.vm("web-01").runtime.connectionState == "connected"


def test_vm_network_is_for_host_isolate_only(sim: Simulator) -> None:
    response = requests.post(chaos_url(sim), json={"action": "host_down", "target": P1, "vm_network": False},
                             timeout=10)
    assert response.status_code == 400 and "vm_network" in response.json()["error"]


def test_timing_keys_of_the_topology(vcsim_binary: Path, tmp_path: Path) -> None:
    bad = write_topology(tmp_path, example_topology_data() | {"lock_lease_seconds": -1,
                                                              "not_responding_after_seconds": 4000}, "bad.json")
    result = subprocess.run([str(vcsim_binary), "-topology", str(bad)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "lock_lease_seconds must be between 0 and 3600, got -1" in result.stderr
    assert "not_responding_after_seconds must be between 0 and 3600, got 4000" in result.stderr
    data = {k: v for k, v in example_topology_data().items() if k not in ("lock_lease_seconds",
                                                                        "not_responding_after_seconds")}
    with own_simulator(vcsim_binary, write_topology(tmp_path, data)) as sim:
        served = requests.get(f"{sim.scheme}://{sim.host}:{sim.port}/topology", timeout=10).json()
    assert (served["lock_lease_seconds"], served["not_responding_after_seconds"]) == (16, 60)  # VMFS, vpxd
