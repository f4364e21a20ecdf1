"""The simulator's WaitForUpdatesEx and collectors with many filters, as vsphere-dr's task waiter
uses them: a filter per awaited task on one collector, filters destroyed (from other threads) while
a wait runs, the collector destroyed with the filters it still has (docs/simulator.md, "Property
collector updates").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim, vmodl

from tests.sim_world import Client, client, example_topology_data, own_simulator, run_task, write_topology

pytestmark = pytest.mark.live


@pytest.fixture
def vc(vcsim_binary: Path, tmp_path: Path) -> Iterator[Client]:
    with own_simulator(vcsim_binary, write_topology(tmp_path, example_topology_data())) as sim, client(sim) as c:
        yield c


def power_filter(collector: Any, vm: vim.VirtualMachine) -> Any:
    """A filter on one VM's power state, as the task waiter has one on one task's info.state."""
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=vm, skip=False)],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.VirtualMachine, pathSet=["runtime.powerState"])])
    return collector.CreateFilter(spec, partialUpdates=False)


def changed_vms(update: Any) -> set[str]:
    return {obj.obj._moId for fs in update.filterSet or () for obj in fs.objectSet or () if obj.kind == "modify"}


def test_filters_destroyed_during_a_wait_and_the_collector_with_the_rest(vc: Client) -> None:
    vms = [vm for vm in vc.every(vim.VirtualMachine) if vm.runtime.powerState == "poweredOn"][:5]
    collector = vc.content.propertyCollector.CreatePropertyCollector()
    filters = [power_filter(collector, vm) for vm in vms]
    version = collector.WaitForUpdatesEx("", vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=0)).version
    result: dict[str, Any] = {}

    def wait() -> None:
        try:
            result["update"] = collector.WaitForUpdatesEx(
                version, vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=20))
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            result["error"] = exc

    waiter = threading.Thread(target=wait)
    waiter.start()
    for gone in filters[:2]:  # destroyed while the wait runs, as a finished task's filter is
        gone.DestroyPropertyFilter()
    run_task(vms[4].PowerOffVM_Task())
    waiter.join(30)
    assert "error" not in result, result.get("error")
    assert changed_vms(result["update"]) == {vms[4]._moId}, "the change a remaining filter names, and only it"
    collector.DestroyPropertyCollector()  # three filters left: destroyed with it
    with pytest.raises(vmodl.fault.ManagedObjectNotFound):
        collector.WaitForUpdatesEx(version, vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=0))
