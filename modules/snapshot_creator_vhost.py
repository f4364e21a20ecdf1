"""Snapshot Creator vHost: keeps fresh snapshots of the VMs that run nested vHosts.

Those VMs live in the admin vCenter ([admin_vcenter]) or in the same vCenter. Rotation is the
Snapshot Creator's (create, verify, prune beyond keep). One extra rule: a backing VM is not
snapshotted while the vHost it runs is not connected in the main vCenter, so that a broken vHost
never pushes its last good snapshot out of the rotation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from modules.snapshot_creator import SnapshotCreator
from vsphere_dr.journal import Journal
from vsphere_dr.records import Inventory, VmRecord
from vsphere_dr.settings import Settings
from vsphere_dr.vcenter import Gateway


class SnapshotCreatorVhost(SnapshotCreator):
    name = "snapshot_creator_vhost"

    def __init__(self, admin: Gateway, main: Gateway, journal: Journal,
                 settings: Callable[[], Settings], stop: threading.Event | None = None) -> None:
        super().__init__(admin, journal, settings, stop)
        self.main = main

    def targets(self, inv: Inventory) -> list[VmRecord]:
        backing = self.settings().inventory.vhost_backing  # vHost name -> backing VM name
        if not backing:
            return []
        main_inv = inv if self.main is self.gateway else self.main.inventory()
        healthy = {name for name, vm in backing.items()
                   if (host := main_inv.host_by_name(name)) is not None and host.connection_state == "connected"}
        wanted = {backing[name] for name in healthy}
        return sorted((vm for vm in inv.vms.values() if vm.name in wanted), key=lambda vm: vm.name)
