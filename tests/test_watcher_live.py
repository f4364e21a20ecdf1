"""The daemon's incremental inventory (WaitForUpdatesEx) against fresh full reads, on the simulator.

A sequence of changes a lab goes through (power operations, a new VM, a removed VM, a host losing
power and coming back, a host disconnected by a person, a snapshot, a crash, a custom attribute, a folder renamed) is applied, and after each one the watcher's picture
must equal what a full read shows at that moment: the same records, field for field.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from pyVmomi import vim

from tests.chaos import chaos
from tests.sim_world import Client, clone_vm, run_task, wait_until
from vsphere_dr.app.daemon import settle_heap
from vsphere_dr.gateway import VCenterGateway
from vsphere_dr.gateway.watcher import InventoryWatcher
from vsphere_dr.records import Inventory
from vsphere_dr.settings import VCenterSettings
from vsphere_dr.simulator.launcher import Simulator

pytestmark = pytest.mark.live
P1, WEB = "esx-p1.lab.local", "web-01"


def vcenter_settings(sim: Simulator) -> VCenterSettings:
    return VCenterSettings(host=sim.host, port=sim.port, user="admin", password="test-password",
                           insecure_http=True, connect_attempts=2, retry_backoff_seconds=0.05,
                           connect_timeout_seconds=4)


@pytest.fixture
def watched(own: Simulator) -> Iterator[tuple[InventoryWatcher, VCenterGateway, list[str]]]:
    woken: list[str] = []
    watcher = InventoryWatcher(vcenter_settings(own), on_evidence=woken.append)
    gateway = VCenterGateway(vcenter_settings(own))
    try:
        assert watcher.step()
        yield watcher, gateway, woken
    finally:
        watcher.stop()
        gateway.close()


def same(a: Inventory | None, b: Inventory) -> bool:
    return a is not None and replace(a, read_at=b.read_at) == b


def caught_up(watcher: InventoryWatcher, gateway: VCenterGateway) -> Inventory:
    """Let the watcher apply what vCenter reports until its picture equals a full read taken now
    (the simulator batches updates every 250 ms, so a change may need a round or two)."""
    def equal() -> Inventory | None:
        watcher.step()
        full = gateway.inventory()
        return full if same(watcher.inventory(), full) else None
    try:
        return wait_until(equal, timeout=8, interval=0)
    except AssertionError:
        full, mine = gateway.inventory(), watcher.inventory()
        assert mine is not None
        diff = [ref for table in ("compute_resources", "hosts", "datastores", "vms")
                for ref in getattr(full, table).keys() | getattr(mine, table).keys()
                if getattr(full, table).get(ref) != getattr(mine, table).get(ref)]
        raise AssertionError(f"the watcher's picture differs from a full read in {diff}") from None


def test_incremental_picture_equals_a_full_read_through_a_lab_s_changes(
        own: Simulator, vc: Client, watched: tuple[InventoryWatcher, VCenterGateway, list[str]]) -> None:
    watcher, gateway, woken = watched
    caught_up(watcher, gateway)
    changes: list[tuple[str, Callable[[], Any]]] = [
        ("power off", lambda: run_task(vc.vm(WEB).PowerOffVM_Task())),
        ("power on", lambda: run_task(vc.vm(WEB).PowerOnVM_Task())),
        ("new VM", lambda: clone_vm(vc, WEB, "web-new", "127.0.2.99")),
        ("snapshot", lambda: run_task(vc.vm("web-new").CreateSnapshot_Task("s1", "", False, False))),
        ("removed VM", lambda: (run_task(vc.vm("web-new").PowerOffVM_Task()),
                                run_task(vc.vm("web-new").Destroy_Task()))),
        ("VM crash", lambda: chaos(own, "vm_crash", WEB)),
        ("VM recovers", lambda: chaos(own, "vm_recover", WEB)),
        ("host power loss", lambda: chaos(own, "host_down", P1)),
        ("host back", lambda: chaos(own, "host_up", P1)),
        ("custom attribute defined", lambda: vc.content.customFieldsManager.AddCustomFieldDef(
            name="owner", moType=vim.VirtualMachine)),
        ("custom attribute set", lambda: vc.content.customFieldsManager.SetField(
            entity=vc.vm(WEB), key=next(f.key for f in vc.content.customFieldsManager.field if f.name == "owner"),
            value="team-a")),
        ("VM folder renamed", lambda: run_task(vc.vm(WEB).parent.Rename_Task("vms"))),
        ("host disconnected", lambda: run_task(vc.host(P1).DisconnectHost_Task())),
        ("host reconnected", lambda: run_task(vc.host(P1).ReconnectHost_Task())),
    ]
    for what, change in changes:
        change()
        after = caught_up(watcher, gateway)
        if what == "host power loss":
            assert after.host_by_name(P1).connection_state == "notResponding", what
    assert watcher.full_reads == 1  # every change came as an update, none by reading it all again
    assert any(P1 in text and "notResponding" in text for text in woken)
    assert any(WEB in text for text in woken)


def test_a_new_login_reads_the_inventory_whole_again(
        own: Simulator, vc: Client, watched: tuple[InventoryWatcher, VCenterGateway, list[str]]) -> None:
    watcher, gateway, _ = watched
    watcher._session.close()  # as if vCenter had restarted: the collector went with the session
    run_task(vc.vm(WEB).PowerOffVM_Task())
    caught_up(watcher, gateway)
    assert watcher.full_reads == 2
    assert watcher.inventory().vm_by_name(WEB).power_state == "poweredOff"


def test_the_daemon_settles_its_heap_after_each_whole_read(own: Simulator) -> None:
    """`run` freezes the objects of a whole read (settle_heap): its picture is built first, so that
    the sweeps use the frozen one; an update round does not do it again, a new login's read does."""
    settled: list[tuple[Inventory | None, int]] = []

    def settle(watcher: InventoryWatcher) -> None:
        settle_heap(watcher)
        settled.append((watcher.inventory(), gc.get_freeze_count()))

    watcher = InventoryWatcher(vcenter_settings(own), on_whole_read=settle)
    try:
        assert watcher.step()
        ((picture, frozen),) = settled
        assert picture is not None and picture.vm_by_name(WEB) is not None and frozen > 0
        assert watcher.inventory() is picture, "the sweep's picture is the one built before the freeze"
        assert watcher.step() and len(settled) == 1  # an update round
        watcher._session.close()
        assert watcher.step() and len(settled) == 2  # a new login: read whole again, settled again
    finally:
        watcher.stop()
        gc.unfreeze()


def test_no_picture_while_vcenter_cannot_be_read(own: Simulator) -> None:
    watcher = InventoryWatcher(vcenter_settings(own).model_copy(update={"port": 9}))
    assert not watcher.step()
    assert watcher.inventory() is None
