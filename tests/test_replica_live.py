"""The Replica Creator on the simulator (the paper's replication mode), through the real controller.

The example lab's dev cluster (esx-d1, esx-d2, datastore ds-dev) stands in for the secondary site,
as in the shipped settings.ini. What an operator cares about: every protected VM has a powered-off
replica away from its own host, its files on the target datastore, rotated to ``keep``; a clone
fault on one VM costs the others nothing and shows the round failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim

from modules.inventory_administrator import InventoryAdministrator
from tests.chaos import chaos
from tests.sim_world import Client
from tests.test_snapshots_live import BACKING_VM, own, targets  # noqa: F401 (fixtures: a simulator of its own, the VMs)
from vsphere_dr.app.controller import Controller
from vsphere_dr.app.module_registry import PAUSABLE
from vsphere_dr.errors import RoundIncomplete
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live

TARGET_HOSTS = {"esx-d1.lab.local", "esx-d2.lab.local"}
REPLICATION = {"enabled": "true", "hosts": ", ".join(sorted(TARGET_HOSTS)), "datastores": "ds-dev", "keep": 2}


@pytest.fixture
def protected(targets: list[str]) -> list[str]:
    """The VMs that get replicas: the Snapshot Creator's."""
    return targets


@pytest.fixture
def ctl(own: Simulator, write_settings) -> Iterator[Controller]:  # type: ignore[no-untyped-def]
    path = write_settings(own.host, own.port, replication=REPLICATION,
                          inventory={"vhost_backing": f"esx-d2.lab.local = {BACKING_VM}"})
    controller = Controller(InventoryAdministrator(path, PAUSABLE))
    yield controller
    controller.close()


def replicas(vc: Client) -> dict[str, list[Any]]:
    """Each source VM's replicas, by the name in their mark."""
    found: dict[str, list[Any]] = {}
    for vm in vc.every(vim.VirtualMachine):
        note = vm.config.annotation or ""
        if note.startswith("vsphere-dr replica of "):
            found.setdefault(note.split()[3], []).append(vm)
    return found


def new_round(ctl: Controller) -> None:
    time.sleep(1.1)  # snapshot names have a resolution of one second
    assert ctl.run_module("snapshot_creator") is None


def test_each_protected_vm_gets_a_verified_replica_away_from_its_host_rotated_to_keep(
        ctl: Controller, vc: Client, protected: list[str]) -> None:
    for round_ in range(1, 4):
        new_round(ctl)
        assert ctl.run_module("replica_creator") is None
        found = replicas(vc)
        assert sorted(found) == protected
        for name, copies in found.items():
            assert len(copies) == min(round_, 2), name
            source = vc.vm(name)
            for replica in copies:
                assert replica.runtime.powerState == "poweredOff"
                assert replica.runtime.host.name in TARGET_HOSTS - {source.runtime.host.name}
                assert replica.config.files.vmPathName.startswith("[ds-dev] ")
                assert source.config.instanceUuid in replica.config.annotation
    status = {row.vm_name: row for row in ctl.journal.replica_status()}
    assert sorted(status) == protected and all(time.time() - r.newest_at < 120 for r in status.values())


def test_a_clone_fault_on_one_vm_fails_the_round_and_the_others_get_theirs(
        ctl: Controller, own: Simulator, vc: Client, protected: list[str]) -> None:
    new_round(ctl)
    chaos(own, "task_fault", "web-02", fault="NoDiskSpace")
    error = ctl.run_module("replica_creator")
    assert isinstance(error, RoundIncomplete) and "web-02" in str(error) and "NoDiskSpace" in str(error)
    assert sorted(replicas(vc)) == [n for n in protected if n != "web-02"]
    assert ctl.journal.runs()["replica_creator"].outcome == "failed"
