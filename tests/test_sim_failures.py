"""Host and guest failures in the bundled simulator, seen through pyVmomi and TCP probes.

Every test that changes the world runs a simulator of its own (see tests/sim_world.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from pyVmomi import vim

from tests.chaos import ChaosError, chaos, chaos_url
from tests.sim_world import (Client, answers, client, example_topology_data, free_port, own_simulator, probe_port,
                             run_task, write_topology)
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live

P1 = "esx-p1.lab.local"
P1_IP = "127.0.1.11"
P1_VMS = {"web-01": "127.0.2.1", "web-02": "127.0.2.2", "db-01": "127.0.2.3", "cache-01": "127.0.2.4"}
WEB_03_IP = "127.0.2.6"  # on esx-p2


@pytest.fixture
def port(topology: Path) -> int:
    return probe_port(topology)


def test_live_addresses_answer_probes(own: Simulator, vc: Client, port: int) -> None:
    assert answers(P1_IP, port)
    assert all(answers(ip, port) for ip in P1_VMS.values())
    assert not answers("127.0.2.13", port)  # batch-01 is powered off
    assert not answers("127.0.2.250", port)  # nobody's address


def test_reconnect_faults_while_host_is_down(own: Simulator, vc: Client) -> None:
    host = vc.host(P1)
    chaos(own, "host_down", P1)
    with pytest.raises(vim.fault.NoHost) as fault:
        run_task(host.ReconnectHost_Task())
    assert fault.value.name == P1
    assert host.runtime.connectionState == "notResponding"
    chaos(own, "host_up", P1)
    run_task(host.ReconnectHost_Task())  # reconnecting a connected host is allowed
    assert host.runtime.connectionState == "connected"


def test_disconnect_and_reconnect_a_live_host(own: Simulator, port: int) -> None:
    with client(own, user="alice") as vc:
        host, web = vc.host(P1), vc.vm("web-01")
        run_task(host.DisconnectHost_Task())
        assert host.runtime.connectionState == "disconnected"
        assert web.runtime.connectionState == "disconnected"
        # vCenter let go of the host, but it and its guests still run.
        assert answers(P1_IP, port) and answers(P1_VMS["web-01"], port)
        assert [e.userName for e in vc.events("HostDisconnectedEvent")] == ["alice"]
        run_task(host.ReconnectHost_Task())
        assert host.runtime.connectionState == "connected"
        assert web.runtime.connectionState == "connected"


def test_a_disconnected_host_stays_disconnected_through_a_failure(own: Simulator, vc: Client, port: int) -> None:
    host = vc.host(P1)
    run_task(host.DisconnectHost_Task())
    chaos(own, "host_down", P1)
    assert host.runtime.connectionState == "disconnected"
    assert not answers(P1_IP, port)
    with pytest.raises(vim.fault.NoHost):
        run_task(host.ReconnectHost_Task())
    chaos(own, "host_up", P1)
    assert host.runtime.connectionState == "disconnected"  # nobody asked vCenter to reconnect
    assert answers(P1_IP, port)
    run_task(host.ReconnectHost_Task())
    assert host.runtime.connectionState == "connected"


def test_vm_crash_and_recover(own: Simulator, vc: Client, port: int) -> None:
    web = vc.vm("web-01")
    state = chaos(own, "vm_crash", "web-01")
    assert (state["target"], state["kind"], state["guest"], state["heartbeat"]) == ("web-01", "vm", "crashed", "red")
    assert state["power_state"] == "poweredOn" and state["alive"] is False
    assert web.runtime.powerState == "poweredOn"
    assert web.guestHeartbeatStatus == web.summary.quickStats.guestHeartbeatStatus == "red"
    assert web.guest.toolsRunningStatus == "guestToolsNotRunning"
    assert not answers(P1_VMS["web-01"], port)
    assert vc.events("VmPoweredOffEvent", "VmGuestShutdownEvent") == []

    state = chaos(own, "vm_recover", "web-01")
    assert (state["guest"], state["heartbeat"], state["alive"]) == ("running", "green", True)
    assert web.guestHeartbeatStatus == "green"
    assert answers(P1_VMS["web-01"], port)


def test_vm_hang_keeps_answering_probes(own: Simulator, vc: Client, port: int) -> None:
    web = vc.vm("web-01")
    state = chaos(own, "vm_hang", "web-01")
    assert (state["guest"], state["heartbeat"], state["alive"]) == ("hung", "red", True)
    assert web.summary.quickStats.guestHeartbeatStatus == "red"
    assert answers(P1_VMS["web-01"], port)  # only the heartbeat tells
    chaos(own, "vm_recover", "web-01")
    assert web.summary.quickStats.guestHeartbeatStatus == "green"


def test_user_power_off_and_guest_shutdown_post_events_with_the_user(own: Simulator, port: int) -> None:
    with client(own, user="bob@vsphere.local") as vc:
        web, db = vc.vm("web-01"), vc.vm("db-01")
        run_task(web.PowerOffVM_Task())
        db.ShutdownGuest()
        off = vc.events("VmPoweredOffEvent")
        assert {(e.vm.name, e.userName) for e in off} == {("web-01", "bob@vsphere.local"), ("db-01", "bob@vsphere.local")}
        assert [(e.vm.name, e.userName) for e in vc.events("VmGuestShutdownEvent")] == [("db-01", "bob@vsphere.local")]
        assert web.guestHeartbeatStatus == db.guestHeartbeatStatus == "gray"
        assert not answers(P1_VMS["web-01"], port) and not answers(P1_VMS["db-01"], port)
        run_task(web.PowerOnVM_Task())
        assert web.guestHeartbeatStatus == "green" and answers(P1_VMS["web-01"], port)


def test_power_off_ends_a_crash(own: Simulator, vc: Client, port: int) -> None:
    web = vc.vm("web-01")
    chaos(own, "vm_crash", "web-01")
    run_task(web.PowerOffVM_Task())
    run_task(web.PowerOnVM_Task())
    assert web.guestHeartbeatStatus == "green" and answers(P1_VMS["web-01"], port)


def test_revert_powers_a_crashed_vm_off_and_power_on_recovers_it(own: Simulator, vc: Client, port: int) -> None:
    web = vc.vm("web-01")
    chaos(own, "vm_crash", "web-01")
    run_task(web.RevertToCurrentSnapshot_Task())
    # The simulator's snapshots hold no memory: vCenter leaves the VM powered off.
    assert web.runtime.powerState == "poweredOff" and web.guestHeartbeatStatus == "gray"
    run_task(web.PowerOnVM_Task())
    assert web.guestHeartbeatStatus == "green" and answers(P1_VMS["web-01"], port)


def test_clone_keeps_the_guest_address_and_answers_for_it_when_running(own: Simulator, vc: Client, port: int) -> None:
    """What a replica relies on: a clone of a running VM, made powered off on a host and datastore of
    another cluster as the Replica Creator makes it, keeps the source's guest address and answers
    for it once it runs."""
    web, d1, ds_dev = vc.vm("web-01"), vc.host("esx-d1.lab.local"), vc.find(vim.Datastore, "ds-dev")
    snapshot = web.snapshot.rootSnapshotList[0].snapshot  # the simulator clones web-01 as it is, ignoring it
    spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(host=d1, pool=d1.parent.resourcePool, datastore=ds_dev),
                            snapshot=snapshot, powerOn=False, template=False)
    clone = run_task(web.CloneVM_Task(folder=web.parent, name="web-01-clone", spec=spec))
    assert clone.runtime.host.name == "esx-d1.lab.local" and clone.runtime.powerState == "poweredOff"
    assert clone.guest.ipAddress == P1_VMS["web-01"]
    run_task(web.PowerOffVM_Task())  # the source goes silent, as when its host fails
    assert not answers(P1_VMS["web-01"], port)  # the clone is not running yet
    run_task(clone.PowerOnVM_Task())
    assert answers(P1_VMS["web-01"], port)
    assert chaos(own, "vm_crash", "web-01-clone")["alive"] is False
    assert not answers(P1_VMS["web-01"], port)


def test_probe_port_of_a_vm_overrides_the_topology_s(vcsim_binary: Path, tmp_path: Path) -> None:
    data = example_topology_data()
    web = data["datacenters"][0]["clusters"][0]["hosts"][0]["vms"][0]
    assert web["name"] == "web-01"
    own_port = web["probe_port"] = free_port()
    topology = write_topology(tmp_path, data)
    with own_simulator(vcsim_binary, topology):
        assert answers(P1_VMS["web-01"], own_port)
        assert not answers(P1_VMS["web-01"], probe_port(topology))
        assert answers(P1_VMS["web-02"], probe_port(topology))


def test_no_listeners_with_probes_false(vcsim_binary: Path, topology: Path, port: int) -> None:
    with own_simulator(vcsim_binary, topology, extra_args=["-probes=false"]) as sim:
        assert not answers(P1_IP, port) and not answers(P1_VMS["web-01"], port)
        assert chaos(sim, "host_down", P1)["connection_state"] == "notResponding"


def test_heartbeats_of_the_example_topology(sim: Simulator) -> None:
    with client(sim) as vc:
        assert vc.vm("web-01").guestHeartbeatStatus == "green"
        assert vc.vm("batch-01").guestHeartbeatStatus == "gray"
        assert vc.vm("web-01").guest.toolsRunningStatus == "guestToolsRunning"


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"action": "explode", "target": "web-01"}, 400, 'unknown action "explode"'),
    ({"action": "vm_crash"}, 400, 'missing "target"'),
    ({"action": "vm_crash", "target": "nope"}, 404, 'no VM named "nope"'),
    ({"action": "host_down", "target": "nope"}, 404, 'no host named "nope"'),
    ({"action": "host_down", "target": "web-01"}, 400, '"web-01" is a VM'),
    ({"action": "vm_hang", "target": P1}, 400, f'"{P1}" is a host'),
    ({"action": "vm_crash", "target": "batch-01"}, 409, "is poweredOff"),
])
def test_chaos_refusals_name_the_problem(sim: Simulator, body: dict[str, str], status: int, error: str) -> None:
    response = requests.post(chaos_url(sim), json=body, timeout=10)
    assert response.status_code == status
    assert error in response.json()["error"]


def test_chaos_wants_a_json_post(sim: Simulator) -> None:
    bad = requests.post(chaos_url(sim), data="action=host_down", timeout=10)
    assert bad.status_code == 400 and "bad JSON" in bad.json()["error"]
    get = requests.get(chaos_url(sim), timeout=10)
    assert get.status_code == 405 and "POST" in get.json()["error"]
    with pytest.raises(ChaosError) as refused:
        chaos(sim, "vm_crash", "batch-01")
    assert refused.value.status == 409
