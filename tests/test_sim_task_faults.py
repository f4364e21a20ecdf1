"""Injected task faults in the bundled simulator (POST /chaos task_fault, task_ok), seen through pyVmomi."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pyVmomi import vim

from tests.chaos import chaos, chaos_url
from tests.sim_world import Client, example_topology_data, own_simulator, run_task, write_topology
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def own(vcsim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    topology = write_topology(tmp_path_factory.mktemp("sim"), example_topology_data())
    with own_simulator(vcsim_binary, topology) as sim:
        yield sim


def test_task_fault_fails_every_task_of_that_vm_only(own: Simulator, vc: Client) -> None:
    state = chaos(own, "task_fault", "web-02", fault="NoDiskSpace")
    assert (state["kind"], state["task_fault"]) == ("vm", "NoDiskSpace")
    web02 = vc.vm("web-02")
    with pytest.raises(vim.fault.NoDiskSpace):
        run_task(web02.CreateSnapshot_Task("x", "", False, False))
    with pytest.raises(vim.fault.NoDiskSpace):
        run_task(web02.snapshot.rootSnapshotList[0].snapshot.RemoveSnapshot_Task(False))
    assert [s.name for s in web02.snapshot.rootSnapshotList] == ["baseline"]
    assert run_task(vc.vm("web-01").CreateSnapshot_Task("fine", "", False, False)) is not None

    assert "task_fault" not in chaos(own, "task_ok", "web-02")
    assert run_task(web02.CreateSnapshot_Task("after", "", False, False)) is not None


def test_task_fault_on_a_powered_off_vm(own: Simulator, vc: Client) -> None:
    chaos(own, "task_fault", "batch-01", fault="InvalidState")
    with pytest.raises(vim.fault.InvalidState):
        run_task(vc.vm("batch-01").PowerOnVM_Task())
    chaos(own, "task_ok", "batch-01")


@pytest.mark.parametrize(("body", "error"), [
    ({"action": "task_fault", "target": "web-01"}, 'task_fault needs a "fault"'),
    ({"action": "task_fault", "target": "web-01", "fault": "Nonsense"}, '"Nonsense" is not a vSphere method fault'),
    ({"action": "task_fault", "target": "web-01", "fault": "VirtualMachineConfigSpec"}, "not a vSphere method fault"),
    ({"action": "vm_crash", "target": "web-01", "fault": "NoDiskSpace"}, '"vm_crash" takes no "fault"'),
    ({"action": "task_fault", "target": "esx-p1.lab.local", "fault": "NoDiskSpace"}, "is a host"),
])
def test_task_fault_refusals(own: Simulator, body: dict[str, str], error: str) -> None:
    response = requests.post(chaos_url(own), json=body, timeout=10)
    assert response.status_code == 400
    assert error in response.json()["error"]
